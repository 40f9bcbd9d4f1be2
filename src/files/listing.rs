//! The directory listing page (`root_listing`): names HTML-escaped in the
//! text and percent-encoded in the links, so no file name can inject markup.

use crate::escape::{html_escape, url_encode};
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

/// Entries a listing shows at most; a note says when some were left out.
pub const MAX_ENTRIES: usize = 10_000;

/// One name in a directory and whether it is a directory (following symlinks).
struct Item {
    name: Vec<u8>,
    is_dir: bool,
}

/// Reads the open directory `dir` (from its start; its descriptor is not consumed).
fn read(dir: &File, dotfiles: bool) -> io::Result<(Vec<Item>, bool)> {
    // SAFETY: dup gives fdopendir a descriptor of its own, which closedir
    // closes; every pointer readdir returns is used before the next call.
    unsafe {
        let fd = libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = libc::fdopendir(fd);
        if stream.is_null() {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        // The duplicate shares the position of the cached descriptor.
        libc::rewinddir(stream);
        let mut items = Vec::new();
        let mut truncated = false;
        loop {
            let entry = libc::readdir(stream);
            if entry.is_null() {
                break;
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr()).to_bytes();
            if name == b"." || name == b".." || (!dotfiles && name.starts_with(b".")) {
                continue;
            }
            if items.len() == MAX_ENTRIES {
                truncated = true;
                break;
            }
            let is_dir = match (*entry).d_type {
                libc::DT_DIR => true,
                libc::DT_LNK | libc::DT_UNKNOWN => {
                    let mut st: libc::stat = std::mem::zeroed();
                    libc::fstatat(fd, (*entry).d_name.as_ptr(), &mut st, 0) == 0
                        && st.st_mode & libc::S_IFMT == libc::S_IFDIR
                }
                _ => false,
            };
            items.push(Item {
                name: name.to_vec(),
                is_dir,
            });
        }
        libc::closedir(stream);
        Ok((items, truncated))
    }
}

/// The HTML page listing `dir`, whose decoded URL path is `shown`.
pub fn page(dir: &File, shown: &[u8], dotfiles: bool) -> io::Result<Vec<u8>> {
    let (mut items, truncated) = read(dir, dotfiles)?;
    // Directories first, then by name (bytes).
    items.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(shown);
    let mut out = Vec::with_capacity(256 + items.len() * 64);
    out.extend_from_slice(b"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</title></head>\n<body><h1>Index of ");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</h1>\n<ul>\n");
    if shown != b"/" {
        out.extend_from_slice(b"<li><a href=\"../\">../</a></li>\n");
    }
    for item in &items {
        let slash: &[u8] = if item.is_dir { b"/" } else { b"" };
        out.extend_from_slice(b"<li><a href=\"./");
        out.extend_from_slice(url_encode(&item.name).as_bytes());
        out.extend_from_slice(slash);
        out.extend_from_slice(b"\">");
        out.extend_from_slice(&html_escape(&item.name));
        out.extend_from_slice(slash);
        out.extend_from_slice(b"</a></li>\n");
    }
    out.extend_from_slice(b"</ul>\n");
    if truncated {
        out.extend_from_slice(b"<p>Only the first 10000 entries are listed.</p>\n");
    }
    out.extend_from_slice(b"</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_dotfiles_hidden() {
        let d = std::env::temp_dir().join(format!("flutter-listing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("<b>&\"x\".txt"), "").unwrap();
        std::fs::write(d.join(".secret"), "").unwrap();
        let dir = File::open(&d).unwrap();
        let html = String::from_utf8(page(&dir, b"/a<b>/", false).unwrap()).unwrap();
        assert!(html.contains("Index of /a&lt;b&gt;/"), "{html}");
        assert!(html.contains("href=\"./%3Cb%3E%26%22x%22.txt\">&lt;b&gt;&amp;&quot;x&quot;.txt<"));
        assert!(html.contains("href=\"./sub/\">sub/<"));
        assert!(!html.contains("secret"));
        // The same descriptor lists again from the start.
        let again = String::from_utf8(page(&dir, b"/", true).unwrap()).unwrap();
        assert!(again.contains(".secret") && again.contains("sub/"));
        assert!(!again.contains("../"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
