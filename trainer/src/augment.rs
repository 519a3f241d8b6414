//! Training-time augmentation of the whole training set, once per epoch, on
//! its device and in the precision the network reads (fp16 under mixed
//! precision), as airbench does: an alternating flip, random translation with
//! reflect padding, cutout. Randomness comes from torch's generator, which
//! each trial seeds.

use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    /// Mirror a random half of the images in the first epoch, then flip every
    /// image on each later epoch: each is seen both ways, in alternate epochs.
    pub flip: bool,
    /// Shift by up to this many pixels each way, filling in by reflection.
    pub translate: i64,
    /// Zero a square of this side at a random place (0: none).
    pub cutout: i64,
}

/// The training set, normalized and padded once; each epoch cuts a shuffled,
/// augmented copy from it.
pub struct AugmentedEpochs {
    augment: Augment,
    /// [N, C, H + 2 translate, W + 2 translate]
    padded: Tensor,
    labels: Tensor,
    /// Which images the first epoch mirrors.
    first_flips: Tensor,
    channels_last: bool,
}

impl AugmentedEpochs {
    /// `images`: normalized [N, C, H, W] in the dtype training reads.
    /// `channels_last` lays each epoch's images out as NHWC (for CUDA's convolutions).
    pub fn new(augment: &Augment, images: &Tensor, labels: &Tensor, channels_last: bool) -> Self {
        let n = images.size()[0];
        let pad = augment.translate;
        let padded = if pad > 0 {
            images.reflection_pad2d([pad, pad, pad, pad])
        } else {
            images.shallow_clone()
        };
        AugmentedEpochs {
            augment: augment.clone(),
            padded,
            labels: labels.shallow_clone(),
            first_flips: Tensor::rand([n], (Kind::Float, images.device())).lt(0.5),
            channels_last,
        }
    }

    /// Epoch `epoch` (counted from 1): its images and labels, shuffled.
    pub fn epoch(&self, epoch: i64) -> (Tensor, Tensor) {
        let [n, _, h, w] = self.padded.size()[..] else {
            panic!("augmentation expects [N, C, H, W], got {:?}", self.padded.size())
        };
        let pad = self.augment.translate;
        let mut x = if pad > 0 {
            random_crop(&self.padded, h - 2 * pad, w - 2 * pad)
        } else {
            self.padded.shallow_clone()
        };
        if self.augment.flip {
            let mirrored = if epoch % 2 == 1 {
                self.first_flips.shallow_clone()
            } else {
                self.first_flips.logical_not()
            };
            x = x.flip([3]).where_self(&mirrored.view([n, 1, 1, 1]), &x);
        }
        if self.augment.cutout > 0 {
            x = cutout(&x, self.augment.cutout);
        }
        let order = Tensor::randperm(n, (Kind::Int64, x.device()));
        let images = x.index_select(0, &order);
        let images = if self.channels_last {
            channels_last(&images)
        } else {
            images
        };
        (images, self.labels.index_select(0, &order))
    }
}

/// The same values laid out as NHWC in memory (PyTorch's channels-last format,
/// which cuDNN's fastest convolutions read); a no-op when already so.
pub fn channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

fn uniform_ints(n: i64, high: i64, device: Device) -> Tensor {
    Tensor::randint(high, [n], (Kind::Int64, device))
}

/// Crops each padded image at its own offset: one masked select per row shift,
/// then per column shift (no index tensors as large as the images).
fn random_crop(padded: &Tensor, h: i64, w: i64) -> Tensor {
    let size = padded.size();
    let (n, shifts) = (size[0], size[2] - h + 1);
    let device = padded.device();
    let dy = uniform_ints(n, shifts, device).view([n, 1, 1, 1]);
    let dx = uniform_ints(n, shifts, device).view([n, 1, 1, 1]);
    let mut rows = padded.narrow(2, 0, h);
    for s in 1..shifts {
        rows = padded.narrow(2, s, h).where_self(&dy.eq(s), &rows);
    }
    let mut out = rows.narrow(3, 0, w);
    for s in 1..shifts {
        out = rows.narrow(3, s, w).where_self(&dx.eq(s), &out);
    }
    out
}

/// Zeroes a size x size square (clipped at the borders) centred anywhere in each image.
fn cutout(x: &Tensor, size: i64) -> Tensor {
    let [b, _, h, w] = x.size()[..] else {
        panic!("augmentation expects [B, C, H, W], got {:?}", x.size())
    };
    let device = x.device();
    let top = uniform_ints(b, h, device).view([b, 1, 1, 1]) - size / 2;
    let left = uniform_ints(b, w, device).view([b, 1, 1, 1]) - size / 2;
    let rows = Tensor::arange(h, (Kind::Int64, device)).view([1, 1, h, 1]);
    let cols = Tensor::arange(w, (Kind::Int64, device)).view([1, 1, 1, w]);
    let inside_rows = rows.ge_tensor(&top).logical_and(&rows.lt_tensor(&(&top + size)));
    let inside_cols = cols.ge_tensor(&left).logical_and(&cols.lt_tensor(&(&left + size)));
    x.masked_fill(&inside_rows.logical_and(&inside_cols), 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct values everywhere, so any movement shows.
    fn batch(b: i64) -> Tensor {
        Tensor::arange(b * 3 * 8 * 8, (Kind::Float, Device::Cpu)).view([b, 3, 8, 8]) + 1.0
    }

    fn augment(flip: bool, translate: i64, cutout: i64) -> Augment {
        Augment {
            flip,
            translate,
            cutout,
        }
    }

    /// Epoch `epoch` of `images`, put back in their original order (each
    /// image's label is its index).
    fn epoch_in_order(epochs: &AugmentedEpochs, epoch: i64) -> Tensor {
        let (images, labels) = epochs.epoch(epoch);
        images.index_select(0, &labels.argsort(0, false))
    }

    fn epochs_of(x: &Tensor, augment: &Augment) -> AugmentedEpochs {
        let labels = Tensor::arange(x.size()[0], (Kind::Int64, Device::Cpu));
        AugmentedEpochs::new(augment, x, &labels, false)
    }

    fn changed_images(a: &Tensor, b: &Tensor) -> i64 {
        a.ne_tensor(b)
            .flatten(1, -1)
            .any_dim(1, false)
            .sum(Kind::Int64)
            .int64_value(&[])
    }

    #[test]
    fn every_augmentation_keeps_the_shape_and_changes_images() {
        let _seeded = crate::train::seed_torch(0);
        let x = batch(64);
        for augment in [
            augment(true, 0, 0),
            augment(false, 2, 0),
            augment(false, 0, 3),
            augment(true, 2, 3),
        ] {
            let y = epoch_in_order(&epochs_of(&x, &augment), 1);
            assert_eq!(y.size(), x.size(), "{augment:?}");
            let changed = changed_images(&x, &y);
            // Flips and shifts leave about 1/2 and 1/25 of the images as they were.
            assert!((10..=64).contains(&changed), "{augment:?} changed {changed} of 64");
        }
    }

    #[test]
    fn each_epoch_is_a_new_shuffle_of_every_image_with_its_label() {
        let _seeded = crate::train::seed_torch(3);
        let x = batch(32);
        let epochs = epochs_of(&x, &augment(false, 0, 0));
        let (first, labels) = epochs.epoch(1);
        let (_, second) = epochs.epoch(2);
        assert!(first.equal(&x.index_select(0, &labels)));
        assert!(!labels.equal(&second));
    }

    #[test]
    fn the_alternating_flip_mirrors_half_the_first_epoch_then_every_image_on_odd_epochs() {
        let _seeded = crate::train::seed_torch(1);
        let x = batch(64);
        let epochs = epochs_of(&x, &augment(true, 0, 0));
        let first = epoch_in_order(&epochs, 1);
        let mut mirrored_first = 0;
        for i in 0..64 {
            let (orig, out) = (x.get(i), first.get(i));
            assert!(
                out.equal(&orig) || out.equal(&orig.flip([2])),
                "image {i} is neither itself nor its mirror"
            );
            mirrored_first += i64::from(out.equal(&orig.flip([2])));
        }
        assert!((16..=48).contains(&mirrored_first), "{mirrored_first} of 64 mirrored");
        // airbench counts epochs from 0: its odd epochs are our even ones.
        assert!(epoch_in_order(&epochs, 2).equal(&first.flip([3])));
        assert!(epoch_in_order(&epochs, 3).equal(&first));
        assert!(epoch_in_order(&epochs, 4).equal(&first.flip([3])));
    }

    #[test]
    fn a_translation_moves_content_without_inventing_it() {
        let _seeded = crate::train::seed_torch(1);
        let x = batch(32);
        // Reflect padding by 2 of an 8x8 image: every output pixel is some input pixel of the same channel.
        let moved = epoch_in_order(&epochs_of(&x, &augment(false, 2, 0)), 1);
        for i in 0..32 {
            let values = x.get(i).get(1).flatten(0, -1);
            let out = moved.get(i).get(1).flatten(0, -1);
            assert!(Tensor::isin(&out, &values, false, false).all().int64_value(&[]) == 1);
        }
        // Each image is shifted as one piece: its centre moves by at most 2 pixels.
        for i in 0..32 {
            let centre = moved.get(i).get(0).get(4).get(4).double_value(&[]);
            let original = x.get(i).get(0).narrow(0, 2, 5).narrow(1, 2, 5);
            assert!(original.eq(centre).any().int64_value(&[]) == 1, "image {i}");
        }
    }

    #[test]
    fn cutout_zeroes_at_most_a_square_of_its_side() {
        let _seeded = crate::train::seed_torch(2);
        let x = batch(32);
        let y = epoch_in_order(&epochs_of(&x, &augment(false, 0, 4)), 1);
        let zeros = y.eq(0.0).sum_dim_intlist([1i64, 2, 3].as_slice(), false, Kind::Int64);
        let zeros = Vec::<i64>::try_from(&zeros).unwrap();
        // Up to 4x4 pixels in each of 3 channels, fewer at a border.
        assert!(zeros.iter().all(|&z| z <= 48 && z % 3 == 0), "{zeros:?}");
        assert!(zeros.iter().filter(|&&z| z == 48).count() > 5, "{zeros:?}");
        // What is not cut out is untouched.
        let kept = y.ne(0.0);
        assert!(y.masked_select(&kept).equal(&x.masked_select(&kept)));
    }

    #[test]
    fn channels_last_keeps_the_values_and_puts_channels_innermost() {
        let _seeded = crate::train::seed_torch(0);
        let x = batch(2);
        let y = channels_last(&x);
        assert!(y.equal(&x));
        assert_eq!(y.stride(), vec![3 * 64, 1, 8 * 3, 3]);
        let labels = Tensor::arange(2, (Kind::Int64, Device::Cpu));
        let (images, _) = AugmentedEpochs::new(&augment(true, 2, 0), &x, &labels, true).epoch(1);
        assert_eq!(images.stride(), vec![3 * 64, 1, 8 * 3, 3]);
    }
}
