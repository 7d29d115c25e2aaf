import { parsePolicy } from './dist/src/policy/index.js'
for (const t of ['a: 1\na: 2', 'a: "x', 'spec:\n  rules:\n    - name: x\n   action: y\n', 'a: *x', '{"a": 1,, }', '\t- x']) { try { parsePolicy(t, 'p.yaml') } catch (e) { console.log(e.message) } }
