//! Figure files. Plots are drawn once, as SVG; a `.png` path gets the SVG
//! rasterized at twice its size, its text set in the system's fonts.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use resvg::{tiny_skia, usvg};

/// Families tried, in order, for the SVG's generic `sans-serif`.
const SANS_SERIF: [&str; 4] = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"];

/// Writes `svg` to `path` as SVG or, for a `.png` path, as PNG.
pub fn write(path: &Path, svg: &str) -> Result<()> {
    let bytes = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => svg.as_bytes().to_vec(),
        Some("png") => png(svg)?,
        _ => bail!("{}: a figure is written as .svg or .png", path.display()),
    };
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The SVG as a PNG image.
fn png(svg: &str) -> Result<Vec<u8>> {
    let options = usvg::Options {
        fontdb: fonts()?,
        ..Default::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).context("the figure's SVG does not parse")?;
    let size = tree.size().to_int_size();
    let scale = 2.0;
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width() * 2, size.height() * 2).context("the figure is too large to rasterize")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("cannot encode the figure as PNG")
}

/// The system's fonts, loaded once.
fn fonts() -> Result<Arc<usvg::fontdb::Database>> {
    static FONTS: OnceLock<Option<Arc<usvg::fontdb::Database>>> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        let families: Vec<String> = db
            .faces()
            .flat_map(|face| face.families.iter().map(|(name, _)| name.clone()))
            .collect();
        let sans = SANS_SERIF
            .iter()
            .map(|f| f.to_string())
            .find(|f| families.contains(f))
            .or_else(|| families.first().cloned())?;
        db.set_sans_serif_family(sans);
        Some(Arc::new(db))
    });
    fonts
        .clone()
        .context("no font was found to set a PNG figure's text: install one (Debian: fonts-dejavu-core) or write .svg")
}
