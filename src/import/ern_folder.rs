//! A folder of ERN messages read as one batch: a tar of its `.xml` files (in
//! path order, subfolders included) written by a thread into a bounded channel
//! while the import reads it, so the folder is never held in memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// The reading end: the tar's bytes as the writer thread produces them.
pub struct FolderTar {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for FolderTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

struct ChannelWriter(SyncSender<std::io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::other("the import stopped reading"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            xml_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The folder as a streamed tar, and the total size of its messages (for progress).
pub fn tar_of_folder(dir: &Path) -> std::io::Result<(FolderTar, u64)> {
    let mut files = Vec::new();
    xml_files(dir, &mut files)?;
    files.sort();
    let len = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let (tx, rx) = sync_channel(16);
    let root = dir.to_path_buf();
    std::thread::spawn(move || {
        let errors = tx.clone();
        let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(
            1 << 16,
            ChannelWriter(tx),
        ));
        let written = files.iter().try_for_each(|file| {
            let name = file.strip_prefix(&root).unwrap_or(file);
            builder.append_path_with_name(file, name)
        });
        let finished = written
            .and_then(|()| builder.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = finished {
            let _ = errors.send(Err(e));
        }
    });
    Ok((
        FolderTar {
            chunks: rx,
            current: Vec::new(),
            at: 0,
        },
        len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_streams_as_a_tar_of_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.xml"), b"<a/>").unwrap();
        std::fs::write(dir.path().join("sub/b.XML"), b"<b/>").unwrap();
        std::fs::write(dir.path().join("cover.jpg"), b"jpg").unwrap();
        let (reader, len) = tar_of_folder(dir.path()).unwrap();
        assert_eq!(len, 8);
        let mut archive = tar::Archive::new(reader);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.xml", "sub/b.XML"]);
    }
}
