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
