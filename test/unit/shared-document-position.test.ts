import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { locateField, parseYamlOrJson, type FieldPath, type LocateOptions } from '../../src/shared/index.js';

/** `[line, column]` of `path` in `text`, or undefined. */
function at(text: string, path: FieldPath, options?: LocateOptions): [number, number] | undefined {
  const where = locateField(parseYamlOrJson(text, 'f'), path, options);
  return where === undefined ? undefined : [where.line, where.column];
}

const YAML = [
  'service: orders', //                                          1
  'grpc: { address: "127.0.0.1:9191" }', //                      2
  'issuers:', //                                                 3
  '  - name: idp', //                                            4
  '    keys: { file: keys/idp.jwks.json }', //                   5
  '    audiences:', //                                           6
  '      - orders', //                                           7
  '      - billing', //                                          8
  '  - name: other', //                                          9
  '    typo: 1', //                                              10
  'empty:', //                                                   11
  'policy: &p { file: policy.yaml }', //                         12
  'again: *p', //                                                13
  '',
].join('\n');

describe('locateField: the line and column of a field path in the parsed text', () => {
  it('finds values in block and flow mappings and sequences of YAML', () => {
    assert.deepEqual(at(YAML, ['service']), [1, 10]);
    assert.deepEqual(at(YAML, ['grpc', 'address']), [2, 18]);
    assert.deepEqual(at(YAML, ['issuers', 0, 'keys', 'file']), [5, 19]);
    assert.deepEqual(at(YAML, ['issuers', 0, 'audiences', 1]), [8, 9]);
    assert.deepEqual(at(YAML, ['issuers', 1]), [9, 5], 'a list item: where its mapping starts');
  });

  it('points at the key for an unknown field, and at the key of a field without a value', () => {
    assert.deepEqual(at(YAML, ['issuers', 1, 'typo'], { at: 'key' }), [10, 5]);
    assert.deepEqual(at(YAML, ['issuers', 1, 'typo']), [10, 11]);
    assert.deepEqual(at(YAML, ['empty']), [11, 1], '"empty:" has no value to point at');
  });

  it('follows an alias into what it names, pointing at the alias itself', () => {
    assert.deepEqual(at(YAML, ['again']), [13, 8]);
    assert.deepEqual(at(YAML, ['again', 'file']), [12, 20]);
  });

  it('places a missing field at the nearest enclosing one that is written, or nowhere when exact', () => {
    assert.deepEqual(at(YAML, ['issuers', 0, 'issuer']), [4, 5], 'the mapping that lacks it');
    assert.deepEqual(at(YAML, ['issuers', 7, 'name']), [4, 3], 'an index past the end: the list');
    assert.equal(at(YAML, ['issuers', 0, 'issuer'], { exact: true }), undefined);
    assert.equal(at(YAML, ['admin', 'address']), undefined, 'nothing of the path is written: no position, not 1:1');
    assert.equal(at(YAML, []), undefined, 'the document itself has none');
  });

  it('finds fields in JSON read by the strict parser, where the YAML path would', () => {
    const json = '{\n  "a": {"b": [1, {"c": "x,]}"}, {"d\\"e": null}],\n  "f": true },\n  "g": "\\u0041"\n}';
    const yamlPathText = `${json} # a comment: not JSON, so the YAML path`;
    for (const [path, expected] of [
      [['a'], [2, 8]],
      [
        ['a', 'b'],
        [2, 14],
      ],
      [
        ['a', 'b', 1, 'c'],
        [2, 24],
      ],
      [
        ['a', 'b', 2, 'd"e'],
        [2, 42],
      ],
      [
        ['a', 'f'],
        [3, 8],
      ],
      [['g'], [4, 8]],
    ] as Array<[FieldPath, [number, number]]>) {
      assert.deepEqual(at(json, path), expected, `JSON ${path.join('.')}`);
      assert.deepEqual(at(yamlPathText, path), expected, `YAML ${path.join('.')}`);
    }
    assert.deepEqual(at(json, ['a', 'b', 2, 'd"e'], { at: 'key' }), [2, 34]);
    assert.deepEqual(at(json, ['a', 'nope']), [2, 8]);
    assert.equal(at(json, ['a', 'b', 5], { exact: true }), undefined);
  });

  it('counts lines of CRLF text, and columns from 1', () => {
    assert.deepEqual(at('a: 1\r\nb:\r\n  c: 2\r\n', ['b', 'c']), [3, 6]);
    assert.deepEqual(at('{"a": 1,\r\n "b": 2}', ['b']), [2, 7]);
  });

  it('has nothing to say about values that were not parsed from text', () => {
    assert.equal(locateField({ a: 1 }, ['a']), undefined);
    assert.equal(locateField(null, ['a']), undefined);
    assert.equal(locateField('text', []), undefined);
  });
});
