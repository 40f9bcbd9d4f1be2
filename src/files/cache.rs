//! Opening files, confined to the document root, and a small per-worker
//! cache of what was opened (descriptors and metadata, and misses too), so a
//! busy file costs no system call at all for [`TTL`]. After that an entry is
//! checked against the file system again (one `stat`) and reopened if the
//! file changed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an entry is trusted without looking at the file system.
pub const TTL: Duration = Duration::from_secs(1);
/// Entries (so open descriptors, at most) one worker keeps.
pub const MAX_ENTRIES: usize = 1024;

/// What a file's validators and framing need of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub is_dir: bool,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Meta {
        Meta {
            len: m.len(),
            dev: m.dev(),
            ino: m.ino(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            is_dir: m.is_dir(),
        }
    }
}

/// An open regular file or directory.
#[derive(Clone)]
pub struct Opened {
    pub file: Arc<File>,
    pub meta: Meta,
}

impl Opened {
    /// A strong validator: it changes whenever the file is replaced
    /// (inode), resized or modified (nanosecond mtime).
    pub fn etag(&self) -> String {
        let m = &self.meta;
        format!(
            "\"{:x}-{:x}-{:x}\"",
            m.ino,
            m.len,
            (m.mtime as u64).wrapping_mul(1_000_000_000) ^ m.mtime_nsec as u64
        )
    }

    /// The modification time in Unix seconds (None before 1970).
    pub fn modified(&self) -> Option<u64> {
        u64::try_from(self.meta.mtime).ok()
    }
}

/// Which files a lookup may open.
#[derive(Clone, Copy)]
pub enum Confine<'a> {
    /// Whatever the path reaches (a file the handler named: trusted code).
    No,
    /// Only files whose real path lies under `root` (canonical); with
    /// `dotfiles` false, none of its components below the root may start with a dot.
    Root { root: &'a Path, dotfiles: bool },
}

struct Entry {
    found: Option<Opened>,
    checked: Instant,
}

/// Per-worker; not shared, so no locks. Confined and unconfined lookups
/// have a map each, so a handler's own file never lets a request for the
/// root past the checks.
#[derive(Default)]
pub struct Cache {
    entries: [HashMap<PathBuf, Entry>; 2],
}

impl Cache {
    /// The regular file or directory at `path`, if `confine` allows it.
    pub fn get(&mut self, path: &Path, confine: Confine) -> Option<Opened> {
        let now = Instant::now();
        let entries = &mut self.entries[usize::from(matches!(confine, Confine::Root { .. }))];
        if let Some(e) = entries.get_mut(path) {
            if now.duration_since(e.checked) < TTL {
                return e.found.clone();
            }
            // Still the same file (same inode, size and mtime) as the one we
            // checked: keep it. The same inode is the same file, wherever
            // the path now leads, so the confinement check still holds.
            if let Some(found) = &e.found {
                if std::fs::metadata(path).is_ok_and(|m| Meta::of(&m) == found.meta) {
                    e.checked = now;
                    return Some(found.clone());
                }
            }
        }
        let found = open(path, confine);
        if let Some(e) = entries.get_mut(path) {
            *e = Entry {
                found: found.clone(),
                checked: now,
            };
            return found;
        }
        if entries.len() >= MAX_ENTRIES / 2 {
            entries.retain(|_, e| now.duration_since(e.checked) < TTL);
            if entries.len() >= MAX_ENTRIES / 2 {
                entries.clear();
            }
        }
        entries.insert(
            path.to_path_buf(),
            Entry {
                found: found.clone(),
                checked: now,
            },
        );
        found
    }
}

/// Opens `path` for reading if it is a regular file or a directory that
/// `confine` allows. Never blocks on a FIFO or device (O_NONBLOCK, then
/// refused by type).
pub fn open(path: &Path, confine: Confine) -> Option<Opened> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() && !meta.is_dir() {
        return None;
    }
    if let Confine::Root { root, dotfiles } = confine {
        // Where the opened file really is: the kernel's name for the
        // descriptor, so a symlink swapped in after a check cannot fool us.
        let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .or_else(|_| std::fs::canonicalize(path))
            .ok()?;
        let inside = real.strip_prefix(root).ok()?;
        if !dotfiles
            && inside
                .components()
                .any(|c| c.as_os_str().as_bytes().starts_with(b"."))
        {
            return None;
        }
    }
    Some(Opened {
        file: Arc::new(file),
        meta: Meta::of(&meta),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("flutter-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.canonicalize().unwrap()
    }

    #[test]
    fn confinement_follows_the_real_path() {
        let d = dir("confine");
        let root = d.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        std::fs::write(d.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/a.txt"), root.join("in")).unwrap();
        std::fs::write(root.join(".hidden"), "h").unwrap();
        let strict = Confine::Root {
            root: &root,
            dotfiles: false,
        };
        assert!(open(&root.join("sub/a.txt"), strict).is_some());
        assert!(open(&root.join("in"), strict).is_some());
        assert!(open(&root.join("out"), strict).is_none());
        assert!(open(&root.join("out"), Confine::No).is_some());
        assert!(open(&root.join(".hidden"), strict).is_none());
        let dotfiles = Confine::Root {
            root: &root,
            dotfiles: true,
        };
        assert!(open(&root.join(".hidden"), dotfiles).is_some());
        assert!(open(&root.join("missing"), strict).is_none());
        assert!(open(Path::new("/dev/null"), Confine::No).is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn cache_serves_misses_and_hits_until_the_ttl() {
        let d = dir("ttl");
        let path = d.join("f");
        let mut cache = Cache::default();
        assert!(cache.get(&path, Confine::No).is_none());
        std::fs::write(&path, "x").unwrap();
        // A miss is remembered for the TTL.
        assert!(cache.get(&path, Confine::No).is_none());
        let age = |cache: &mut Cache| {
            for map in &mut cache.entries {
                map.values_mut().for_each(|e| e.checked -= TTL);
            }
        };
        age(&mut cache);
        let first = cache.get(&path, Confine::No).unwrap();
        assert_eq!(first.meta.len, 1);
        // Same file after the TTL: the same descriptor is kept.
        age(&mut cache);
        let again = cache.get(&path, Confine::No).unwrap();
        assert!(Arc::ptr_eq(&first.file, &again.file));
        // Changed: reopened.
        std::fs::write(&path, "xyz").unwrap();
        age(&mut cache);
        assert_eq!(cache.get(&path, Confine::No).unwrap().meta.len, 3);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
