import { watch, type FSWatcher } from 'chokidar';

/**
 * Calls `onChange` for any change under the config directory: in-place writes, editors'
 * and Ansible's rename-over, drop-ins added or removed. Reading and validating is the
 * caller's job, after its debounce.
 */
export function watchConfig(dir: string, onChange: (path: string) => void): FSWatcher {
  const watcher = watch(dir, { ignoreInitial: true, depth: 1, atomic: true });
  watcher.on('all', (_event, path) => {
    if (/\.ya?ml$/.test(path) || path.endsWith('peers.d')) onChange(path);
  });
  return watcher;
}
