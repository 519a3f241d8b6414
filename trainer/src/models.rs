//! The networks a trial can train: a small CNN (Fashion-MNIST on a CPU), a fast
//! airbench94-style network (CIFAR-10's default), and the course's ResNet-34
//! with a configurable number of blocks per group.

use std::str::FromStr;

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use crate::augment::channels_last;

#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    SmallCnn,
    Airbench,
    ResNet { blocks: [i64; 4] },
}

impl FromStr for Architecture {
    type Err = String;

    /// `cnn`, `airbench`, `resnet` (blocks [1,1,1,1]) or `resnet:3,4,6,3`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "cnn" => Ok(Architecture::SmallCnn),
            None if s == "airbench" => Ok(Architecture::Airbench),
            None if s == "resnet" => Ok(Architecture::ResNet { blocks: [1; 4] }),
            Some(("resnet", blocks)) => {
                let blocks: Vec<i64> = blocks
                    .split(',')
                    .map(|b| b.trim().parse::<i64>().ok().filter(|&b| b >= 1))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        format!("resnet blocks must be four counts ≥ 1, like resnet:3,4,6,3; got `{blocks}`")
                    })?;
                let blocks: [i64; 4] = blocks
                    .try_into()
                    .map_err(|_| format!("resnet takes four block counts (one per group), got `{s}`"))?;
                Ok(Architecture::ResNet { blocks })
            }
            _ => Err(format!(
                "unknown model `{s}`: cnn, airbench, resnet or resnet:B1,B2,B3,B4"
            )),
        }
    }
}

/// Builds the network under `vs`. `whitening_images` gives the normalized
/// images that set airbench's fixed patch-whitening filters (only it asks).
pub fn build(
    architecture: &Architecture,
    vs: &nn::Path,
    image_shape: [i64; 3],
    classes: i64,
    width: f64,
    whitening_images: &dyn Fn() -> Tensor,
) -> nn::SequentialT {
    let scaled = |c: i64| ((c as f64 * width).round() as i64).max(1);
    match architecture {
        Architecture::SmallCnn => small_cnn(vs, image_shape, classes, [scaled(32), scaled(64)]),
        Architecture::Airbench => airbench(
            vs,
            image_shape[0],
            classes,
            [scaled(64), scaled(256), scaled(256)],
            &whitening_images(),
        ),
        Architecture::ResNet { blocks } => resnet(vs, image_shape[0], classes, *blocks, scaled(64)),
    }
}

/// PyTorch's default weights for convolutions and linear layers (Kaiming
/// uniform with a = √5): uniform within ±1/√fan_in. tch's default uses the
/// ReLU gain, √6 times that bound.
const TORCH_WEIGHTS: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Uniform,
    fan: nn::init::FanInOut::FanIn,
    non_linearity: nn::init::NonLinearity::ExplicitGain(0.577_350_269_189_625_8),
};

/// A convolution initialized as PyTorch's: weights as `TORCH_WEIGHTS`, a bias
/// (where it has one) uniform within ±1/√fan_in.
fn conv(vs: nn::Path, cin: i64, cout: i64, kernel: i64, config: nn::ConvConfig) -> nn::Conv2D {
    let bound = 1.0 / ((cin * kernel * kernel) as f64).sqrt();
    let config = nn::ConvConfig {
        ws_init: TORCH_WEIGHTS,
        bs_init: nn::Init::Uniform { lo: -bound, up: bound },
        ..config
    };
    nn::conv2d(vs, cin, cout, kernel, config)
}

/// A linear layer initialized as PyTorch's (tch's default bias already is).
fn linear(vs: nn::Path, cin: i64, cout: i64, bias: bool) -> nn::Linear {
    let config = nn::LinearConfig {
        ws_init: TORCH_WEIGHTS,
        bias,
        ..Default::default()
    };
    nn::linear(vs, cin, cout, config)
}

fn conv3x3(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride,
        padding: 1,
        bias: false,
        ..Default::default()
    };
    conv(vs, cin, cout, 3, config)
}

/// Batch norm as PyTorch starts it: scale 1, shift 0 (tch draws the scale
/// uniformly from [0, 1)).
fn batch_norm_config() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    }
}

fn batch_norm(vs: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(vs, c, batch_norm_config())
}

/// conv-bn-relu, pool, conv-bn-relu, pool, linear.
fn small_cnn(vs: &nn::Path, [c, h, w]: [i64; 3], classes: i64, widths: [i64; 2]) -> nn::SequentialT {
    let flat = widths[1] * (h / 4) * (w / 4);
    nn::seq_t()
        .add(conv3x3(vs / "conv1", c, widths[0], 1))
        .add(batch_norm(vs / "bn1", widths[0]))
        .add_fn(|x| x.relu().max_pool2d_default(2))
        .add(conv3x3(vs / "conv2", widths[0], widths[1], 1))
        .add(batch_norm(vs / "bn2", widths[1]))
        .add_fn(|x| x.relu().max_pool2d_default(2).flatten(1, -1))
        .add(linear(vs / "fc", flat, classes, true))
}

/// The optimizer's parameter group of airbench's batch-norm shifts, which
/// learn `BIAS_LR_SCALE` times faster than the weights.
pub const BIAS_GROUP: usize = 1;
pub const BIAS_LR_SCALE: f64 = 64.0;

/// Batch norm with its scale frozen at 1 (only the shift learns) and fast
/// running statistics, as in airbench.
fn frozen_scale_batch_norm(vs: nn::Path, c: i64) -> nn::BatchNorm {
    let mut bn = nn::batch_norm2d(
        vs.set_group(BIAS_GROUP),
        c,
        nn::BatchNormConfig {
            momentum: 0.4,
            eps: 1e-12,
            ..batch_norm_config()
        },
    );
    if let Some(scale) = bn.ws.as_mut() {
        let _ = scale.set_requires_grad(false);
    }
    bn
}

/// airbench94: a fixed 2x2 patch-whitening convolution, three groups of
/// (conv, max-pool, bn, gelu, conv, bn, gelu), a final max-pool and a scaled
/// linear layer; no residual connections.
fn airbench(vs: &nn::Path, c: i64, classes: i64, widths: [i64; 3], images: &Tensor) -> nn::SequentialT {
    let whiten_out = 2 * c * 4;
    let mut whiten = conv(vs / "whiten", c, whiten_out, 2, Default::default());
    tch::no_grad(|| {
        whiten.ws.copy_(&whitening_filters(images));
        if let Some(bias) = whiten.bs.as_mut() {
            let _ = bias.zero_();
        }
    });
    let _ = whiten.ws.set_requires_grad(false);
    let mut net = nn::seq_t().add(whiten).add_fn(|x| x.gelu("none"));
    let mut cin = whiten_out;
    for (i, &cout) in widths.iter().enumerate() {
        let group = vs / format!("group{}", i + 1);
        net = net
            .add(identity_start_conv3x3(&group / "conv1", cin, cout))
            .add_fn(|x| x.max_pool2d_default(2))
            .add(frozen_scale_batch_norm(&group / "bn1", cout))
            .add_fn(|x| x.gelu("none"))
            .add(identity_start_conv3x3(&group / "conv2", cout, cout))
            .add(frozen_scale_batch_norm(&group / "bn2", cout))
            .add_fn(|x| x.gelu("none"));
        cin = cout;
    }
    let head = linear(vs / "head", cin, classes, false);
    net.add_fn(|x| x.adaptive_max_pool2d([1, 1]).0.flatten(1, -1))
        .add(head)
        .add_fn(|x| x / 9.0)
}

/// airbench's whitening bias (it learns for the first epochs only); other
/// networks have none.
pub fn whitening_bias(vs: &nn::VarStore) -> Option<Tensor> {
    vs.variables().remove("whiten.bias")
}

/// Lays every convolution's filters out channels-last (NHWC), as the images
/// are on CUDA, so cuDNN runs its NHWC kernels without transposing.
pub fn to_channels_last(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for mut variable in vs.variables().into_values().filter(|v| v.dim() == 4) {
            let laid_out = channels_last(&variable);
            variable.set_data(&laid_out);
        }
    });
}

/// A 3x3 convolution whose first filters, up to one per input channel, start
/// as the identity (each passes its channel through), as airbench initializes
/// its convolutions.
fn identity_start_conv3x3(vs: nn::Path, cin: i64, cout: i64) -> nn::Conv2D {
    let conv = conv3x3(vs, cin, cout, 1);
    let k = cin.min(cout);
    let identity = Tensor::eye(k, (Kind::Float, conv.ws.device()))
        .view([k, k, 1, 1])
        .constant_pad_nd([1, 1, 1, 1]);
    tch::no_grad(|| {
        let mut filters = conv.ws.narrow(0, 0, k);
        let _ = filters.zero_();
        filters.narrow(1, 0, k).copy_(&identity);
    });
    conv
}

/// Filters that whiten 2x2 patches: the covariance's eigenvectors over the
/// square roots of their eigenvalues, each with its negation.
fn whitening_filters(images: &Tensor) -> Tensor {
    let c = images.size()[1];
    let patches = images
        .to_kind(Kind::Double)
        .unfold(2, 2, 1)
        .unfold(3, 2, 1)
        .permute([0, 2, 3, 1, 4, 5])
        .reshape([-1, c * 4]);
    let n = patches.size()[0] as f64;
    let covariance = patches.transpose(0, 1).matmul(&patches) / n;
    let (eigenvalues, eigenvectors) = covariance.linalg_eigh("U");
    let filters =
        eigenvectors.transpose(0, 1).reshape([c * 4, c, 2, 2]) / (eigenvalues + 5e-4).sqrt().view([c * 4, 1, 1, 1]);
    Tensor::cat(&[&filters, &(-&filters)], 0)
        .to_kind(Kind::Float)
        .to_device(images.device())
}

#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    shortcut: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(vs: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let shortcut = (stride != 1 || cin != cout).then(|| {
            let config = nn::ConvConfig {
                stride,
                bias: false,
                ..Default::default()
            };
            (
                conv(vs / "down", cin, cout, 1, config),
                batch_norm(vs / "down_bn", cout),
            )
        });
        BasicBlock {
            conv1: conv3x3(vs / "conv1", cin, cout, stride),
            bn1: batch_norm(vs / "bn1", cout),
            conv2: conv3x3(vs / "conv2", cout, cout, 1),
            bn2: batch_norm(vs / "bn2", cout),
            shortcut,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let y = y.apply(&self.conv2).apply_t(&self.bn2, train);
        let skip = match &self.shortcut {
            Some((conv, bn)) => x.apply(conv).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    }
}

/// The course's ResNet: a 3x3 stem, four groups of basic blocks (widths 64,
/// 128, 256, 512 times the multiplier; strides 1, 2, 2, 2), average pooling
/// and a linear layer. Blocks [3, 4, 6, 3] make ResNet-34.
fn resnet(vs: &nn::Path, c: i64, classes: i64, blocks: [i64; 4], base: i64) -> nn::SequentialT {
    let mut net = nn::seq_t()
        .add(conv3x3(vs / "stem", c, base, 1))
        .add(batch_norm(vs / "stem_bn", base))
        .add_fn(|x| x.relu());
    let mut cin = base;
    for (g, &count) in blocks.iter().enumerate() {
        let cout = base << g;
        for b in 0..count {
            let stride = if g > 0 && b == 0 { 2 } else { 1 };
            net = net.add(BasicBlock::new(
                &(vs / format!("group{}_{b}", g + 1)),
                cin,
                cout,
                stride,
            ));
            cin = cout;
        }
    }
    net.add_fn(|x| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
        .add(linear(vs / "fc", cin, classes, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn model_names_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!("resnet".parse(), Ok(Architecture::ResNet { blocks: [1, 1, 1, 1] }));
        assert_eq!(
            "resnet:3,4,6,3".parse(),
            Ok(Architecture::ResNet { blocks: [3, 4, 6, 3] })
        );
        assert!("resnet:3,4".parse::<Architecture>().unwrap_err().contains("four"));
        assert!("resnet:0,1,1,1".parse::<Architecture>().is_err());
        assert!("vgg".parse::<Architecture>().unwrap_err().contains("airbench"));
    }

    #[test]
    fn every_network_maps_a_batch_to_class_scores() {
        let _seeded = crate::train::seed_torch(0);
        let images = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        for architecture in [
            Architecture::SmallCnn,
            Architecture::Airbench,
            Architecture::ResNet { blocks: [1, 2, 1, 1] },
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = build(&architecture, &vs.root(), [3, 32, 32], 10, 0.25, &|| {
                images.shallow_clone()
            });
            assert_eq!(net.forward_t(&images, true).size(), vec![4, 10], "{architecture:?}");
        }
    }

    /// Every network's variables, built on random images.
    fn variables(architecture: &Architecture) -> Vec<(String, Tensor)> {
        let _seeded = crate::train::seed_torch(0);
        let images = Tensor::randn([16, 3, 32, 32], (Kind::Float, Device::Cpu));
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = build(architecture, &vs.root(), [3, 32, 32], 10, 1.0, &|| {
            images.shallow_clone()
        });
        let mut all: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    const ARCHITECTURES: [Architecture; 3] = [
        Architecture::SmallCnn,
        Architecture::Airbench,
        Architecture::ResNet { blocks: [1, 1, 1, 1] },
    ];

    #[test]
    fn batch_norm_scales_start_at_one_and_shifts_at_zero() {
        for architecture in &ARCHITECTURES {
            // The learned scale and shift, not the running statistics.
            let norms: Vec<(String, Tensor)> = variables(architecture)
                .into_iter()
                .filter(|(name, _)| name.contains("bn") && (name.ends_with(".weight") || name.ends_with(".bias")))
                .collect();
            assert!(norms.len() >= 4, "{architecture:?}");
            for (name, value) in norms {
                let expected = if name.ends_with("weight") { 1.0 } else { 0.0 };
                let off = (&value - expected).abs().max().double_value(&[]);
                assert!(off == 0.0, "{architecture:?} {name}: {off} away from {expected}");
            }
        }
    }

    #[test]
    fn weights_start_within_pytorchs_bounds() {
        for architecture in &ARCHITECTURES {
            for (name, value) in variables(architecture) {
                let size = value.size();
                // Convolution and linear weights: [out, in, kh, kw] or [out, in].
                if name.contains("bn") || name.contains("whiten") || !name.ends_with("weight") || size.len() < 2 {
                    continue;
                }
                let fan_in: i64 = size[1..].iter().product();
                let bound = 1.0 / (fan_in as f64).sqrt();
                // airbench's identity-start filters hold ones; the rest is drawn.
                let drawn = if name.contains("group") {
                    value.narrow(0, size[1].min(size[0]), size[0] - size[1].min(size[0]))
                } else {
                    value
                };
                if drawn.numel() < 64 {
                    continue;
                }
                let largest = drawn.abs().max().double_value(&[]);
                assert!(
                    largest <= bound && largest > 0.9 * bound,
                    "{architecture:?} {name}: largest {largest}, PyTorch's bound {bound}"
                );
            }
        }
    }

    #[test]
    fn airbench_convolutions_start_by_passing_their_inputs_through() {
        let _seeded = crate::train::seed_torch(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = identity_start_conv3x3(vs.root() / "conv", 4, 6);
        let x = Tensor::randn([2, 4, 5, 5], (Kind::Float, Device::Cpu));
        let y = x.apply(&conv);
        assert!(y.narrow(1, 0, 4).allclose(&x, 1e-6, 1e-6, false));
        // The filters beyond the inputs keep their random start.
        assert!(y.narrow(1, 4, 2).abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }

    #[test]
    fn the_whitening_stem_decorrelates_patches() {
        let _seeded = crate::train::seed_torch(0);
        // Strongly correlated channels: the same noise plus a little of its own.
        let base = Tensor::randn([64, 1, 8, 8], (Kind::Float, Device::Cpu));
        let images = Tensor::cat(&[&base, &(&base + 0.1 * base.randn_like()), &(&base * 0.5)], 1);
        let filters = whitening_filters(&images);
        assert_eq!(filters.size(), vec![24, 3, 2, 2]);
        let out = images.conv2d(&filters.narrow(0, 0, 12), None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
        let flat = out.permute([1, 0, 2, 3]).reshape([12, -1]);
        let covariance = flat.matmul(&flat.transpose(0, 1)) / flat.size()[1] as f64;
        let off_diagonal = (&covariance - covariance.diag(0).diag(0)).abs().max().double_value(&[]);
        assert!(off_diagonal < 0.05, "largest off-diagonal covariance {off_diagonal}");
    }
}
