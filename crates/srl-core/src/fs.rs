//! The one atomic file write of the workspace (the only I/O in this crate): every file a run may be resumed
//! from (reports, summaries, predictions, checkpoints' JSON, `prompt.json`) goes through [`write_atomic`].

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` so that a reader, or a run killed at any moment, sees the old file or the new one
/// whole: a temporary file in the same folder, flushed to disk (fsync), renamed over `path`, then the folder
/// synced so the rename itself is durable. Creates the parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename durable; some filesystems refuse to sync a folder, which costs only durability.
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().ok();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_whole_files_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c.json");
        super::write_atomic(&p, b"one").unwrap();
        super::write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.json")], "no temporary file left behind");
    }
}
