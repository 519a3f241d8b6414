//! CIFAR-10 from the official binary batches or an ImageFolder tree; the
//! binary tarball is downloaded (and its md5 checked) when neither is found.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use crate::data::{ImageData, ImageSet};
use crate::download;

pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
const SHAPE: [i64; 3] = [3, 32, 32];
pub const TARBALL: &str = "cifar-10-binary.tar.gz";
pub const TARBALL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const TARBALL_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
const BINARY_FOLDER: &str = "cifar-10-batches-bin";
const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_BATCH: &str = "test_batch.bin";

/// Loads CIFAR-10 from `dir` in whichever layout is there, downloading the
/// tarball from `url` if none is.
pub fn load(dir: &Path, url: &str) -> Result<ImageData> {
    if let Some(found) = find(dir) {
        return found.load();
    }
    let tarball = dir.join(TARBALL);
    if !tarball.exists() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        download::download(url, &tarball).with_context(|| {
            format!(
                "no CIFAR-10 in {dir} and it cannot be downloaded. Put one of these there (or point --data-dir / \
                 BO_DATA_DIR at it): the binary batches ({BINARY_FOLDER}/data_batch_1.bin … data_batch_5.bin, \
                 test_batch.bin), the tarball {TARBALL} (md5 {TARBALL_MD5}), or an ImageFolder tree \
                 (train/<class>/*.png|jpg and test/<class>/…)",
                dir = dir.display()
            )
        })?;
    }
    download::verify_md5(&tarball, TARBALL_MD5)?;
    download::extract_tar_gz(&tarball, dir)?;
    find(dir)
        .with_context(|| format!("{} holds no {BINARY_FOLDER}/ folder", tarball.display()))?
        .load()
}

enum Layout {
    Binary(PathBuf),
    ImageFolder(PathBuf),
}

fn find(dir: &Path) -> Option<Layout> {
    let binary = [dir.to_path_buf(), dir.join(BINARY_FOLDER)]
        .into_iter()
        .find(|d| d.join(TRAIN_BATCHES[0]).is_file());
    let folder = || {
        [dir.to_path_buf(), dir.join("cifar10-jpeg"), dir.join("cifar10")]
            .into_iter()
            .find(|d| d.join("train").is_dir() && d.join("test").is_dir())
    };
    binary.map(Layout::Binary).or_else(|| folder().map(Layout::ImageFolder))
}

impl Layout {
    fn load(self) -> Result<ImageData> {
        let (train, test) = match self {
            Layout::Binary(dir) => {
                let train = TRAIN_BATCHES.iter().map(|f| dir.join(f)).collect::<Vec<_>>();
                (read_batches(&train)?, read_batches(&[dir.join(TEST_BATCH)])?)
            }
            Layout::ImageFolder(dir) => (
                read_image_folder(&dir.join("train"))?,
                read_image_folder(&dir.join("test"))?,
            ),
        };
        Ok(ImageData {
            train,
            test,
            classes: CLASSES.len(),
        })
    }
}

/// Records of one label byte then 3,072 pixel bytes (the red, green and blue
/// planes): channel-first already.
fn read_batches(files: &[PathBuf]) -> Result<ImageSet> {
    let record = 1 + (SHAPE[0] * SHAPE[1] * SHAPE[2]) as usize;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for file in files {
        let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            bail!(
                "{} is not a CIFAR-10 batch ({} bytes is no multiple of {record})",
                file.display(),
                bytes.len()
            );
        }
        for chunk in bytes.chunks_exact(record) {
            if chunk[0] as usize >= CLASSES.len() {
                bail!("{} holds label {}; CIFAR-10 has 10 classes", file.display(), chunk[0]);
            }
            labels.push(chunk[0]);
            pixels.extend_from_slice(&chunk[1..]);
        }
    }
    ImageSet::from_bytes(&pixels, &labels, SHAPE)
}

/// `root/<class>/<image>`, decoded in parallel; classes are CIFAR-10's, so the
/// labels keep the standard order whatever folders exist.
fn read_image_folder(root: &Path) -> Result<ImageSet> {
    let mut files = Vec::new();
    for entry in fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let label = CLASSES.iter().position(|c| *c == name).with_context(|| {
            format!(
                "{}: `{name}` is not a CIFAR-10 class ({})",
                root.display(),
                CLASSES.join(", ")
            )
        })?;
        for image in fs::read_dir(&path)? {
            let image = image?.path();
            let ext = image.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
                files.push((image, label as u8));
            }
        }
    }
    if files.is_empty() {
        bail!("{} holds no images in <class>/ folders", root.display());
    }
    files.sort();
    let decoded = files
        .par_iter()
        .map(|(path, _)| {
            let image = image::open(path).with_context(|| format!("cannot decode {}", path.display()))?;
            let rgb = image.to_rgb8();
            if rgb.dimensions() != (SHAPE[2] as u32, SHAPE[1] as u32) {
                bail!(
                    "{} is {}x{}; CIFAR-10 images are 32x32",
                    path.display(),
                    rgb.width(),
                    rgb.height()
                );
            }
            // Interleaved RGB to channel planes.
            let hwc = rgb.into_raw();
            Ok((0..3)
                .flat_map(|c| hwc.iter().skip(c).step_by(3).copied())
                .collect::<Vec<u8>>())
        })
        .collect::<Result<Vec<_>>>()?;
    let labels: Vec<u8> = files.iter().map(|(_, l)| *l).collect();
    ImageSet::from_bytes(&decoded.concat(), &labels, SHAPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Image i of class c: every pixel of channel k is (7 i + 3 k + c) mod 256.
    fn pixel(i: usize, channel: usize, class: usize) -> u8 {
        ((7 * i + 3 * channel + class) % 256) as u8
    }

    fn write_binary(dir: &Path, per_batch: usize) {
        let dir = dir.join(BINARY_FOLDER);
        fs::create_dir_all(&dir).unwrap();
        for (b, name) in TRAIN_BATCHES.iter().chain([&TEST_BATCH]).enumerate() {
            let mut bytes = Vec::new();
            for i in 0..per_batch {
                let class = (i + b) % 10;
                bytes.push(class as u8);
                for channel in 0..3 {
                    bytes.extend(std::iter::repeat_n(pixel(i, channel, class), 1024));
                }
            }
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn binary_batches_load_with_labels_and_channel_planes() {
        let dir = tempfile::tempdir().unwrap();
        write_binary(dir.path(), 4);
        let data = load(dir.path(), "http://127.0.0.1:9/unused").unwrap();
        assert_eq!(data.train.images.size(), vec![20, 3, 32, 32]);
        assert_eq!(data.test.images.size(), vec![4, 3, 32, 32]);
        // Record 1 of batch 2 (index 4 + 1): class (1 + 1) % 10.
        assert_eq!(data.train.labels.int64_value(&[5]), 2);
        for channel in 0..3 {
            let value = data.train.images.int64_value(&[5, channel, 31, 0]);
            assert_eq!(value, pixel(1, channel as usize, 2) as i64);
        }
    }

    #[test]
    fn a_truncated_batch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_binary(dir.path(), 2);
        let batch = dir.path().join(BINARY_FOLDER).join(TEST_BATCH);
        let bytes = fs::read(&batch).unwrap();
        fs::write(&batch, &bytes[..bytes.len() - 1]).unwrap();
        let error = load(dir.path(), "http://127.0.0.1:9/unused").unwrap_err();
        assert!(format!("{error:#}").contains("not a CIFAR-10 batch"), "{error:#}");
    }

    #[test]
    fn image_folder_pngs_decode_to_the_right_pixels_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "test"] {
            for (class, name) in [(1usize, "automobile"), (8, "ship")] {
                let folder = dir.path().join(split).join(name);
                fs::create_dir_all(&folder).unwrap();
                for i in 0..3 {
                    let image = image::RgbImage::from_fn(32, 32, |x, _| {
                        image::Rgb([0, 1, 2].map(|c| pixel(i, c, class).wrapping_add(x as u8)))
                    });
                    image.save(folder.join(format!("{i}.png"))).unwrap();
                }
            }
        }
        // The shared copy is JPEG: lossy, so only roughly the colour written.
        let grey = image::RgbImage::from_pixel(32, 32, image::Rgb([200, 100, 50]));
        fs::create_dir_all(dir.path().join("train/truck")).unwrap();
        grey.save(dir.path().join("train/truck/x.jpg")).unwrap();
        let data = load(dir.path(), "http://127.0.0.1:9/unused").unwrap();
        assert_eq!(data.train.images.size(), vec![7, 3, 32, 32]);
        let labels = Vec::<i64>::try_from(&data.train.labels).unwrap();
        assert_eq!(labels, vec![1, 1, 1, 8, 8, 8, 9]);
        let jpeg_red = data.train.images.int64_value(&[6, 0, 16, 16]);
        assert!((190..=210).contains(&jpeg_red), "{jpeg_red}");
        // Third automobile, blue channel, column 5.
        assert_eq!(
            data.train.images.int64_value(&[2, 2, 0, 5]),
            pixel(2, 2, 1).wrapping_add(5) as i64
        );
    }

    #[test]
    fn a_folder_that_is_no_cifar_class_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("train/giraffe")).unwrap();
        fs::create_dir_all(dir.path().join("test")).unwrap();
        let error = load(dir.path(), "http://127.0.0.1:9/unused").unwrap_err();
        assert!(format!("{error:#}").contains("giraffe"), "{error:#}");
    }

    #[test]
    fn a_corrupted_tarball_is_refused_and_nothing_is_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(TARBALL), b"not the CIFAR-10 tarball").unwrap();
        let error = load(dir.path(), "http://127.0.0.1:9/unused").unwrap_err();
        assert!(format!("{error:#}").contains(TARBALL_MD5), "{error:#}");
        assert!(!dir.path().join(BINARY_FOLDER).exists());
    }

    #[test]
    fn without_data_or_network_the_error_says_where_to_put_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(&dir.path().join("data"), "http://127.0.0.1:9/cifar.tar.gz").unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("data_batch_1.bin") && message.contains("--data-dir"),
            "{message}"
        );
        assert!(!dir.path().join("data").join(TARBALL).exists());
    }

    #[test]
    fn a_downloaded_tarball_with_the_right_md5_is_unpacked_and_loaded() {
        // The md5 can't be forged, so check the unpack-and-load half on a tarball of test batches.
        let source = tempfile::tempdir().unwrap();
        write_binary(source.path(), 2);
        let target = tempfile::tempdir().unwrap();
        let archive = target.path().join("batches.tar.gz");
        let gz = flate2::write::GzEncoder::new(fs::File::create(&archive).unwrap(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        builder
            .append_dir_all(BINARY_FOLDER, source.path().join(BINARY_FOLDER))
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        download::extract_tar_gz(&archive, target.path()).unwrap();
        let data = load(target.path(), "http://127.0.0.1:9/unused").unwrap();
        assert_eq!(data.train.len(), 10);
        assert_eq!(data.test.len(), 2);
    }
}
