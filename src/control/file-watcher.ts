import { readFile } from 'node:fs/promises';

export interface FileWatcher {
  stop(): void;
}

/**
 * Polls a file and calls `onChange` with its bytes whenever they differ from the last
 * bytes seen. Content comparison (not mtime or inotify) because Kubernetes updates
 * mounted ConfigMaps by swapping a symlink, which inotify on the file misses and mtime
 * granularity can hide. The files are small (policies, key sets), so reading is cheap.
 */
export function watchFile(
  path: string,
  intervalMs: number,
  initial: Buffer,
  onChange: (bytes: Buffer) => void,
  onError: (error: NodeJS.ErrnoException) => void,
): FileWatcher {
  let last = initial;
  let busy = false;
  let lastErrorCode: string | undefined;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readFile(path)
      .then((bytes) => {
        lastErrorCode = undefined;
        if (bytes.equals(last)) return;
        last = bytes;
        onChange(bytes);
      })
      .catch((error: NodeJS.ErrnoException) => {
        // A missing file during a symlink swap is normal; report each distinct error once.
        if (error.code !== lastErrorCode) onError(error);
        lastErrorCode = error.code;
      })
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
