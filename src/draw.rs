//! What every chart shares (`/week`'s picture, `staywell simulate --png`): the embedded font
//! (DejaVu Sans, `week/font/LICENSE-DejaVu.txt`, so charts render on a machine with no fonts
//! installed), the Okabe–Ito colour-blind-safe palette, text styles, and drawing into an RGB
//! buffer encoded as PNG.

use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("week/font/DejaVuSans.ttf");
pub const FAMILY: &str = "sans-serif";

// Okabe–Ito.
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
pub const INK: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);
pub const GREY: RGBColor = RGBColor(0x6E, 0x6E, 0x6E);
pub const RULE: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
pub const SHADE: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);

pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub type DrawResult =
    Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

fn font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded chart font could not be read"))
    }
}

/// Text in the embedded font.
pub fn style(size: f64, color: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(color)
}

/// Draws a `width × height` picture and returns its raw RGB pixels (3 bytes each).
pub fn rgb(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area) -> DrawResult,
) -> anyhow::Result<Vec<u8>> {
    font()?;
    let mut buf = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(&root).map_err(|e| anyhow!("drawing the chart failed: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("drawing the chart failed: {e}"))?;
    }
    Ok(buf)
}

/// Draws a `width × height` picture as PNG bytes.
pub fn png(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area) -> DrawResult,
) -> anyhow::Result<Vec<u8>> {
    let rgb = rgb(width, height, draw)?;
    let mut out = Vec::with_capacity(64 * 1024);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().context("png header")?;
    writer.write_image_data(&rgb).context("png data")?;
    writer.finish().context("png end")?;
    Ok(out)
}
