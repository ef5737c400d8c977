//! The drawing layer every view shares: head colours, and the geometry of a two-column token diagram.

/// One colour per head (d3's category10 extended to 12, as bertviz colours heads).
pub const HEAD_COLOURS: [&str; 16] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
];

pub fn head_colour(head: usize) -> &'static str {
    HEAD_COLOURS[head % HEAD_COLOURS.len()]
}

/// Geometry of the head view: tokens in two columns, lines between them.
#[derive(Clone, Copy, Debug)]
pub struct Columns {
    pub row_height: f64,
    pub column_width: f64,
    pub gap: f64,
    pub top: f64,
}

impl Default for Columns {
    fn default() -> Self {
        Self { row_height: 22.0, column_width: 130.0, gap: 160.0, top: 8.0 }
    }
}

impl Columns {
    pub fn y(&self, row: usize) -> f64 {
        self.top + self.row_height * (row as f64 + 0.5)
    }
    pub fn left_text_x(&self) -> f64 {
        self.column_width - 6.0
    }
    pub fn line_start_x(&self) -> f64 {
        self.column_width
    }
    pub fn line_end_x(&self) -> f64 {
        self.column_width + self.gap
    }
    pub fn right_text_x(&self) -> f64 {
        self.column_width + self.gap + 6.0
    }
    pub fn width(&self) -> f64 {
        2.0 * self.column_width + self.gap
    }
    pub fn height(&self, rows: usize) -> f64 {
        self.top * 2.0 + self.row_height * rows as f64
    }
}

/// One line of a diagram: from (x1, y1) to (x2, y2), with its opacity.
pub struct Stroke {
    pub from: (f64, f64),
    pub to: (f64, f64),
    pub alpha: f32,
}

/// Opacity steps for canvas lines: lines of the same colour and step share one path and one `stroke()` call,
/// which is what keeps 100 000+ lines (512 tokens × 12 heads) to a few milliseconds.
const ALPHA_STEPS: usize = 64;

/// Draw `strokes` in `colour` on a canvas, batched by opacity; lines fainter than one 8-bit step are skipped.
pub fn stroke_lines(ctx: &web_sys::CanvasRenderingContext2d, colour: &str, width: f64, strokes: impl Iterator<Item = Stroke>) {
    let mut buckets: Vec<Vec<Stroke>> = (0..ALPHA_STEPS).map(|_| Vec::new()).collect();
    for s in strokes {
        if s.alpha >= 1.0 / 255.0 {
            let step = ((s.alpha.min(1.0) * ALPHA_STEPS as f32).ceil() as usize).clamp(1, ALPHA_STEPS);
            buckets[step - 1].push(s);
        }
    }
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(width);
    for (i, bucket) in buckets.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
        ctx.set_global_alpha((i + 1) as f64 / ALPHA_STEPS as f64);
        ctx.begin_path();
        for s in bucket {
            ctx.move_to(s.from.0, s.from.1);
            ctx.line_to(s.to.0, s.to.1);
        }
        ctx.stroke();
    }
    ctx.set_global_alpha(1.0);
}

/// A canvas's 2-D context, the canvas sized to `width` × `height` CSS pixels at the screen's pixel density
/// (capped, so a 512-token diagram stays within the browser's canvas limits).
pub fn sized_context(canvas: &web_sys::HtmlCanvasElement, width: f64, height: f64) -> Option<web_sys::CanvasRenderingContext2d> {
    use wasm_bindgen::JsCast;
    let dpr = web_sys::window().map(|w| w.device_pixel_ratio()).unwrap_or(1.0).clamp(1.0, 2.0);
    let scale = dpr.min(16_000.0 / height.max(1.0)).max(0.25);
    canvas.set_width((width * scale).round() as u32);
    canvas.set_height((height * scale).round() as u32);
    let style = canvas.style();
    let _ = style.set_property("width", &format!("{width}px"));
    let _ = style.set_property("height", &format!("{height}px"));
    let ctx: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.unchecked_into();
    let _ = ctx.scale(scale, scale);
    Some(ctx)
}
