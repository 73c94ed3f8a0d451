//! A tiny file system the test mounts itself, to fill up: `tmpfs` of a chosen size, which
//! needs root (as CI runs). Elsewhere the test says why it is skipped and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted `tmpfs`, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A `tmpfs` of `bytes`, or `None` (with the reason printed) where none can be mounted.
    pub fn mount(bytes: u64) -> Option<Tmpfs> {
        Tmpfs::mount_with(bytes, "")
    }

    /// [`Tmpfs::mount`] with more mount options (`nr_inodes=4`).
    pub fn mount_with(bytes: u64, options: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mut all = format!("size={bytes}");
        if !options.is_empty() {
            all = format!("{all},{options}");
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &all])
            .arg("tmpfs")
            .arg(dir.path())
            .output();
        match status {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                eprintln!(
                    "skipped: mounting a tmpfs failed (it needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(err) => {
                eprintln!("skipped: `mount` could not run: {err}");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Changes its size (more room, or less), keeping what is on it.
    pub fn resize(&self, bytes: u64) {
        self.remount(&format!("size={bytes}"));
    }

    /// Changes mount options (`nr_inodes=1000`), keeping what is on it.
    pub fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}
