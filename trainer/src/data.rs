//! Image classification data as tensors: uint8 images [N, C, H, W] and int64 labels.

use anyhow::{bail, ensure, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
pub struct ImageSet {
    /// uint8, [N, C, H, W].
    pub images: Tensor,
    /// int64, [N].
    pub labels: Tensor,
}

impl ImageSet {
    /// From raw CHW bytes, one image after another.
    pub fn from_bytes(pixels: &[u8], labels: &[u8], shape: [i64; 3]) -> Result<Self> {
        let per_image = (shape[0] * shape[1] * shape[2]) as usize;
        ensure!(
            pixels.len() == per_image * labels.len(),
            "{} bytes of pixels do not make {} images of {shape:?}",
            pixels.len(),
            labels.len()
        );
        let n = labels.len() as i64;
        Ok(ImageSet {
            images: Tensor::from_slice(pixels).view([n, shape[0], shape[1], shape[2]]),
            labels: Tensor::from_slice(labels).to_kind(Kind::Int64),
        })
    }

    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn select(&self, index: &Tensor) -> ImageSet {
        ImageSet {
            images: self.images.index_select(0, index),
            labels: self.labels.index_select(0, index),
        }
    }

    pub fn to_device(&self, device: Device) -> ImageSet {
        ImageSet {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
        }
    }

    /// [C, H, W] of one image.
    pub fn image_shape(&self) -> [i64; 3] {
        let s = self.images.size();
        [s[1], s[2], s[3]]
    }
}

/// A dataset's official training and test sets.
#[derive(Debug)]
pub struct ImageData {
    pub train: ImageSet,
    pub test: ImageSet,
    pub classes: usize,
}

/// What a trial trains and scores on: the test set is kept apart and never chooses.
pub struct Splits {
    pub train: ImageSet,
    pub validation: ImageSet,
    pub test: ImageSet,
    pub classes: usize,
}

impl ImageData {
    /// Holds `validation` training images out for validation; which ones depends
    /// only on `data_seed`, so every trial of a study scores on the same images.
    /// None held out (0) trains on all of them, for a final fit.
    pub fn split(self, validation: usize, data_seed: u64) -> Result<Splits> {
        let n = self.train.len() as usize;
        if validation >= n {
            bail!("the validation split must hold fewer than the {n} training images, got {validation}");
        }
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut StdRng::seed_from_u64(data_seed));
        let (held, kept) = order.split_at(validation);
        let mut kept = kept.to_vec();
        kept.sort_unstable();
        Ok(Splits {
            validation: self.train.select(&Tensor::from_slice(held)),
            train: self.train.select(&Tensor::from_slice(&kept)),
            test: self.test,
            classes: self.classes,
        })
    }
}

impl Splits {
    pub fn to_device(&self, device: Device) -> Splits {
        Splits {
            train: self.train.to_device(device),
            validation: self.validation.to_device(device),
            test: self.test.to_device(device),
            classes: self.classes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: u8) -> ImageSet {
        let pixels: Vec<u8> = (0..n).collect();
        ImageSet::from_bytes(&pixels, &pixels, [1, 1, 1]).unwrap()
    }

    fn ids(set: &ImageSet) -> Vec<i64> {
        Vec::<i64>::try_from(&set.labels).unwrap()
    }

    #[test]
    fn validation_split_is_disjoint_complete_and_fixed_by_the_data_seed() {
        let split = |seed| {
            ImageData {
                train: numbered(50),
                test: numbered(5),
                classes: 50,
            }
            .split(10, seed)
            .unwrap()
        };
        let a = split(1);
        let (train, validation) = (ids(&a.train), ids(&a.validation));
        assert_eq!((train.len(), validation.len()), (40, 10));
        let mut all: Vec<i64> = train.iter().chain(&validation).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        // Images stay paired with their labels.
        let pixels = Vec::<u8>::try_from(&a.validation.images.flatten(0, -1)).unwrap();
        assert_eq!(pixels.iter().map(|&p| p as i64).collect::<Vec<_>>(), validation);
        assert_eq!(ids(&split(1).validation), validation);
        assert_ne!(ids(&split(2).validation), validation);
    }

    #[test]
    fn a_split_that_leaves_nothing_to_train_on_is_refused() {
        let data = ImageData {
            train: numbered(5),
            test: numbered(5),
            classes: 5,
        };
        assert!(data.split(5, 0).is_err());
    }

    #[test]
    fn no_validation_split_trains_on_every_image() {
        let data = ImageData {
            train: numbered(50),
            test: numbered(5),
            classes: 5,
        };
        let splits = data.split(0, 0).unwrap();
        assert_eq!((splits.train.len(), splits.validation.len()), (50, 0));
    }
}
