import { watch, type FSWatcher } from 'chokidar';

/**
 * Calls `onChange` for any change under the config directory: in-place writes, editors'
 * and Ansible's rename-over, drop-ins added or removed. Reading and validating is the
 * caller's job, after its debounce.
 */
export function watchConfig(dir: string, onChange: (path: string) => void, onError: (err: unknown) => void = () => undefined): FSWatcher {
  const watcher = watch(dir, { ignoreInitial: true, depth: 1, atomic: true });
  watcher.on('all', (_event, path) => {
    if (/\.ya?ml$/.test(path) || path.endsWith('peers.d')) onChange(path);
  });
  // An 'error' without a listener would throw and end the daemon (ENOSPC when the host is out
  // of inotify watches, EMFILE): saves are then seen by the periodic resync.
  watcher.on('error', onError);
  return watcher;
}
