//! Fashion-MNIST from its four IDX files, gzip-compressed or not (Debian's
//! package dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::data::{ImageData, ImageSet};

pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Loads from the first of `dir`, `dir/fashion-mnist` and the Debian package's
/// folder that holds all four files.
pub fn load(dir: &Path) -> Result<ImageData> {
    let candidates = [dir.to_path_buf(), dir.join("fashion-mnist"), PathBuf::from(SYSTEM_DIR)];
    let Some(files) = candidates
        .iter()
        .find_map(|d| FILES.iter().map(|f| locate(d, f)).collect::<Option<Vec<_>>>())
    else {
        bail!(
            "no Fashion-MNIST in {} or {SYSTEM_DIR}: install Debian's dataset-fashion-mnist, or put {} (each .gz or not) \
             in the folder that --data-dir / BO_DATA_DIR names",
            dir.display(),
            FILES.join(", ")
        );
    };
    Ok(ImageData {
        train: read_pair(&files[0], &files[1])?,
        test: read_pair(&files[2], &files[3])?,
        classes: 10,
    })
}

fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

fn read_pair(images: &Path, labels: &Path) -> Result<ImageSet> {
    let (image_dims, pixels) = read_idx(images, 3)?;
    let (label_dims, labels_bytes) = read_idx(labels, 1)?;
    if image_dims[0] != label_dims[0] {
        bail!(
            "{} holds {} images but {} holds {} labels",
            images.display(),
            image_dims[0],
            labels.display(),
            label_dims[0]
        );
    }
    if let Some(bad) = labels_bytes.iter().find(|&&l| l >= 10) {
        bail!("{} holds label {bad}; Fashion-MNIST has 10 classes", labels.display());
    }
    ImageSet::from_bytes(&pixels, &labels_bytes, [1, image_dims[1] as i64, image_dims[2] as i64])
}

/// An IDX file of unsigned bytes: magic 0x0000_08_NN (NN dimensions), the
/// dimensions as big-endian u32, then the data.
fn read_idx(path: &Path, dims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{} is a broken gzip file", path.display()))?;
        out
    } else {
        raw
    };
    let header = 4 + 4 * dims;
    if bytes.len() < header || bytes[..3] != [0, 0, 8] || bytes[3] as usize != dims {
        bail!(
            "{} is not an IDX file of {dims}-dimensional unsigned bytes",
            path.display()
        );
    }
    let shape: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected: usize = shape.iter().product();
    if bytes.len() - header != expected {
        bail!(
            "{} should hold {expected} bytes of data for shape {shape:?}, not {}",
            path.display(),
            bytes.len() - header
        );
    }
    Ok((shape, bytes[header..].to_vec()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Writes n images of 28x28 whose every pixel is 10 i + label; gzip for the training files only.
    fn write_set(dir: &Path, n: usize) {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = (0..n).flat_map(|i| vec![(10 * i) as u8 + labels[i]; 28 * 28]).collect();
        let images = idx(&[n as u32, 28, 28], &pixels);
        let label_file = idx(&[n as u32], &labels);
        fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(&images)).unwrap();
        fs::write(dir.join("train-labels-idx1-ubyte.gz"), gzip(&label_file)).unwrap();
        fs::write(dir.join("t10k-images-idx3-ubyte"), &images).unwrap();
        fs::write(dir.join("t10k-labels-idx1-ubyte"), &label_file).unwrap();
    }

    #[test]
    fn idx_files_load_gzipped_or_plain() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), 12);
        let data = load(dir.path()).unwrap();
        for set in [&data.train, &data.test] {
            assert_eq!(set.images.size(), vec![12, 1, 28, 28]);
            assert_eq!(set.labels.int64_value(&[11]), 1);
            assert_eq!(set.images.int64_value(&[11, 0, 27, 27]), 111);
        }
    }

    #[test]
    fn a_label_count_that_does_not_match_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), 12);
        fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx(&[11], &[0; 11])).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("12 images but"), "{error}");
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), 3);
        let path = dir.path().join("t10k-images-idx3-ubyte");
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        assert!(load(dir.path()).unwrap_err().to_string().contains("should hold"));
    }
}
