//! Training-time augmentation of a whole batch at once, on the batch's device:
//! random flips, random translation with reflect padding, cutout. Randomness
//! comes from torch's generator, which each trial seeds.

use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    /// Mirror half of the images left to right.
    pub flip: bool,
    /// Shift by up to this many pixels each way, filling in by reflection.
    pub translate: i64,
    /// Zero a square of this side at a random place (0: none).
    pub cutout: i64,
}

impl Augment {
    /// `images`: float [B, C, H, W].
    pub fn apply(&self, images: &Tensor) -> Tensor {
        let mut x = images.shallow_clone();
        if self.flip {
            x = random_flip(&x);
        }
        if self.translate > 0 {
            x = random_translate(&x, self.translate);
        }
        if self.cutout > 0 {
            x = cutout(&x, self.cutout);
        }
        x
    }
}

fn uniform_ints(n: i64, high: i64, device: Device) -> Tensor {
    Tensor::randint(high, [n], (Kind::Int64, device))
}

fn random_flip(x: &Tensor) -> Tensor {
    let b = x.size()[0];
    let flip = Tensor::rand([b, 1, 1, 1], (Kind::Float, x.device())).lt(0.5);
    x.flip([3]).where_self(&flip, x)
}

/// Pads by reflection, then crops each image at its own offset with two gathers.
fn random_translate(x: &Tensor, pad: i64) -> Tensor {
    let [b, c, h, w] = x.size()[..] else {
        panic!("augmentation expects [B, C, H, W], got {:?}", x.size())
    };
    let padded = x.reflection_pad2d([pad, pad, pad, pad]);
    let device = x.device();
    let dy = uniform_ints(b, 2 * pad + 1, device);
    let dx = uniform_ints(b, 2 * pad + 1, device);
    let rows = (dy.view([b, 1]) + Tensor::arange(h, (Kind::Int64, device)).view([1, h]))
        .view([b, 1, h, 1])
        .expand([b, c, h, w + 2 * pad], false);
    let cols = (dx.view([b, 1]) + Tensor::arange(w, (Kind::Int64, device)).view([1, w]))
        .view([b, 1, 1, w])
        .expand([b, c, h, w], false);
    padded.gather(2, &rows, false).gather(3, &cols, false)
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

    fn changed_images(a: &Tensor, b: &Tensor) -> i64 {
        a.ne_tensor(b)
            .flatten(1, -1)
            .any_dim(1, false)
            .sum(Kind::Int64)
            .int64_value(&[])
    }

    #[test]
    fn every_augmentation_keeps_the_shape_and_changes_images() {
        tch::manual_seed(0);
        let x = batch(64);
        for augment in [
            Augment {
                flip: true,
                translate: 0,
                cutout: 0,
            },
            Augment {
                flip: false,
                translate: 2,
                cutout: 0,
            },
            Augment {
                flip: false,
                translate: 0,
                cutout: 3,
            },
            Augment {
                flip: true,
                translate: 2,
                cutout: 3,
            },
        ] {
            let y = augment.apply(&x);
            assert_eq!(y.size(), x.size(), "{augment:?}");
            let changed = changed_images(&x, &y);
            // Flips and shifts leave about 1/2 and 1/25 of the images as they were.
            assert!((10..=64).contains(&changed), "{augment:?} changed {changed} of 64");
        }
    }

    #[test]
    fn a_flip_mirrors_and_a_translation_moves_content_without_inventing_it() {
        tch::manual_seed(1);
        let x = batch(32);
        let flipped = Augment {
            flip: true,
            translate: 0,
            cutout: 0,
        }
        .apply(&x);
        for i in 0..32 {
            let (orig, out) = (x.get(i), flipped.get(i));
            assert!(
                out.equal(&orig) || out.equal(&orig.flip([2])),
                "image {i} is neither itself nor its mirror"
            );
        }
        // Reflect padding by 2 of an 8x8 image: every output pixel is some input pixel of the same channel.
        let moved = Augment {
            flip: false,
            translate: 2,
            cutout: 0,
        }
        .apply(&x);
        for i in 0..32 {
            let values = x.get(i).get(1).flatten(0, -1);
            let out = moved.get(i).get(1).flatten(0, -1);
            assert!(Tensor::isin(&out, &values, false, false).all().int64_value(&[]) == 1);
        }
    }

    #[test]
    fn cutout_zeroes_at_most_a_square_of_its_side() {
        tch::manual_seed(2);
        let x = batch(32);
        let y = Augment {
            flip: false,
            translate: 0,
            cutout: 4,
        }
        .apply(&x);
        let zeros = y.eq(0.0).sum_dim_intlist([1i64, 2, 3].as_slice(), false, Kind::Int64);
        let zeros = Vec::<i64>::try_from(&zeros).unwrap();
        // Up to 4x4 pixels in each of 3 channels, fewer at a border.
        assert!(zeros.iter().all(|&z| z <= 48 && z % 3 == 0), "{zeros:?}");
        assert!(zeros.iter().filter(|&&z| z == 48).count() > 5, "{zeros:?}");
        // What is not cut out is untouched.
        let kept = y.ne(0.0);
        assert!(y.masked_select(&kept).equal(&x.masked_select(&kept)));
    }
}
