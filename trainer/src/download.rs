//! Fetching a dataset archive: download with a progress bar, md5 check, unpacking.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

/// Downloads `url` to `dest`, through a `.part` file so that an interrupted
/// download never looks complete.
pub fn download(url: &str, dest: &Path) -> Result<()> {
    let mut response = ureq::get(url)
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    let total = response.body().content_length();
    let bar = ProgressBar::new(total.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .expect("valid template"),
    );
    bar.set_message(format!("downloading {url}"));
    let partial = dest.with_extension("part");
    let mut file = File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
    let mut body = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body
            .read(&mut buffer)
            .with_context(|| format!("the download of {url} broke off"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buffer[..n])?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    file.sync_all()?;
    fs::rename(&partial, dest)?;
    Ok(())
}

pub fn md5_hex(path: &Path) -> Result<String> {
    let mut reader = BufReader::new(File::open(path).with_context(|| format!("cannot read {}", path.display()))?);
    let mut hasher = Md5::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Refuses a file whose md5 differs from the published one.
pub fn verify_md5(path: &Path, expected: &str) -> Result<()> {
    let actual = md5_hex(path)?;
    if actual != expected {
        bail!(
            "{} has md5 {actual}, not the published {expected}: it is corrupt or incomplete; delete it and try again",
            path.display()
        );
    }
    Ok(())
}

/// Unpacks a .tar.gz into `into`.
pub fn extract_tar_gz(archive: &Path, into: &Path) -> Result<()> {
    let file = File::open(archive).with_context(|| format!("cannot read {}", archive.display()))?;
    tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)))
        .unpack(into)
        .with_context(|| format!("cannot unpack {} into {}", archive.display(), into.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_accepts_the_right_digest_and_refuses_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"The quick brown fox jumps over the lazy dog").unwrap();
        // The digest RFC 1321's test suite and countless tools agree on.
        verify_md5(&path, "9e107d9d372bb6826bd81d3542a419d6").unwrap();
        fs::write(&path, b"The quick brown fox jumps over the lazy cog").unwrap();
        let error = verify_md5(&path, "9e107d9d372bb6826bd81d3542a419d6").unwrap_err();
        assert!(error.to_string().contains("corrupt"), "{error}");
    }
}
