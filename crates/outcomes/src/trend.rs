//! A trend chart of one instrument's totals over time, rendered on the server as one SVG element
//! for the patient chart.
//!
//! The output is self-contained and safe to inline under a strict Content-Security-Policy: no
//! script, no event handlers, no links or external references, no `style` attributes (colours
//! are SVG presentation attributes, which any page stylesheet can override through the `class`
//! names). Every caller-supplied text is escaped.

mod scale;
#[cfg(test)]
mod tests;

use crate::svg::{Num, escape};
use kapstone_clinical::instrument::{Instrument, Method};
use scale::{Linear, nice_ticks, widen};
use std::fmt::{self, Write};

/// Beyond this many assessments the chart draws the line only: circles would merge into a band
/// and their tooltips would dominate the size of the page.
pub const CIRCLES_UP_TO: usize = 500;

/// What to draw. Fill it in directly or start from [`TrendChart::for_instrument`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrendChart {
    /// The chart's accessible name; also shown above the plot.
    pub title: String,
    /// Lowest and highest value of the y axis, normally the instrument's total range. Values
    /// outside it are drawn at its edge.
    pub y_range: (f64, f64),
    /// Shaded severity bands, in order from least to most severe (that order picks the colour).
    pub bands: Vec<SeverityBand>,
    /// The assessments, in any order. `x` is in the caller's unit, e.g. days since baseline.
    pub points: Vec<TrendPoint>,
    /// Dosing sessions, drawn as dashed vertical lines.
    pub markers: Vec<DoseMarker>,
    /// A horizontal line such as the PCL-5 probable-PTSD cut-off.
    pub reference: Option<ReferenceLine>,
    /// Labelled positions on the x axis, e.g. dates formatted by the caller. When empty, the axis
    /// gets round numbers in the caller's unit.
    pub x_ticks: Vec<XTick>,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeverityBand {
    pub label: String,
    pub lo: f64,
    pub hi: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub x: f64,
    pub y: f64,
    /// Shown with the value in the point's tooltip and in the chart description, e.g. the date.
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DoseMarker {
    pub x: f64,
    /// e.g. "Dose 3".
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceLine {
    pub y: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct XTick {
    pub x: f64,
    pub label: String,
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 240;
const MIN_WIDTH: u32 = 160;
const MIN_HEIGHT: u32 = 100;
/// Around the plot: room for the title above, y labels left, x labels below.
const MARGIN_TOP: f64 = 28.0;
/// A strip between the title and the plot for dose labels, so they never cover data or bands.
const DOSE_LABEL_STRIP: f64 = 14.0;
const MARGIN_RIGHT: f64 = 12.0;
const MARGIN_BOTTOM: f64 = 24.0;
const MARGIN_LEFT: f64 = 36.0;
/// Keeps the first and last assessment off the axis lines.
const INSET: f64 = 6.0;
/// A rough width of one character at the label font size, to stop labels overprinting.
const CHAR_WIDTH: f64 = 6.0;
/// Least to most severe.
const BAND_FILLS: [&str; 5] = ["#2e7d32", "#9e9d24", "#f9a825", "#ef6c00", "#c62828"];
const SERIES: &str = "#1565c0";
const DOSE: &str = "#5c6bc0";
const REFERENCE: &str = "#b71c1c";
const AXIS: &str = "#9e9e9e";
const GRID: &str = "#e0e0e0";
const MUTED: &str = "#616161";
const EMPTY_MESSAGE: &str = "No assessments yet";

impl TrendChart {
    pub fn new(title: impl Into<String>, y_range: (f64, f64)) -> TrendChart {
        TrendChart {
            title: title.into(),
            y_range,
            bands: Vec::new(),
            points: Vec::new(),
            markers: Vec::new(),
            reference: None,
            x_ticks: Vec::new(),
            width: WIDTH,
            height: HEIGHT,
        }
    }

    /// An empty chart with the instrument's name, total range and severity bands, or `None`
    /// when the instrument has no total.
    pub fn for_instrument(instrument: &Instrument) -> Option<TrendChart> {
        let (lo, hi) = instrument.total_range()?;
        #[allow(clippy::cast_precision_loss)] // totals are far below 2^52
        let mut chart = TrendChart::new(instrument.short_name.clone(), (lo as f64, hi as f64));
        // A summed total is a whole number, so band edges go halfway between one band's max and
        // the next band's min: a total then sits inside its band, never on a boundary.
        let half = if instrument.method == Method::Sum {
            0.5
        } else {
            0.0
        };
        let mut bands: Vec<_> = instrument.bands.iter().collect();
        bands.sort_by_key(|b| b.min);
        #[allow(clippy::cast_precision_loss)] // as above
        let bands = bands.into_iter().map(|b| SeverityBand {
            label: b.label.clone(),
            lo: b.min as f64 - half,
            hi: b.max as f64 + half,
        });
        chart.bands = bands.collect();
        Some(chart)
    }

    /// The complete `<svg>` element.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.size_hint());
        self.write_svg(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    /// Writes the `<svg>` element into `out`, e.g. straight into a page being rendered.
    pub fn write_svg<W: Write>(&self, out: &mut W) -> fmt::Result {
        let points = self.drawable_points();
        let frame = Frame::new(self, &points);
        write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="trend-chart" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="system-ui, sans-serif" font-size="11">"#,
            w = Num(frame.width),
            h = Num(frame.height),
        )?;
        write!(out, "<title>{}</title><desc>", escape(&self.title))?;
        self.write_description(out, &points, &frame)?;
        out.write_str("</desc>")?;
        self.write_bands(out, &frame)?;
        write_y_axis(out, &frame)?;
        self.write_x_axis(out, &frame)?;
        self.write_reference(out, &frame)?;
        self.write_markers(out, &frame)?;
        if points.is_empty() {
            write!(
                out,
                r#"<text class="empty" x="{}" y="{}" text-anchor="middle" fill="{MUTED}" font-size="13">{EMPTY_MESSAGE}</text>"#,
                Num((frame.left + frame.right) / 2.0),
                Num((frame.top + frame.bottom) / 2.0),
            )?;
        } else {
            write_series(out, &points, &frame)?;
        }
        write!(
            out,
            r##"<text class="chart-title" x="{}" y="17" fill="#212121" font-size="13" font-weight="600">{}</text></svg>"##,
            Num(frame.left),
            escape(&self.title),
        )
    }

    /// Enough for the whole chart in one allocation, so 10,000 points do not regrow the buffer.
    fn size_hint(&self) -> usize {
        let labels = |n: usize, text: usize| n * (text + 16);
        let circles = if self.points.len() <= CIRCLES_UP_TO {
            self.points
                .iter()
                .map(|p| 64 + p.label.as_ref().map_or(0, String::len))
                .sum()
        } else {
            0
        };
        2048 + self.title.len() * 2
            + self.points.len() * 12
            + circles
            + self
                .markers
                .iter()
                .map(|m| 64 + labels(1, m.label.len()))
                .sum::<usize>()
            + self
                .bands
                .iter()
                .map(|b| 200 + labels(2, b.label.len()))
                .sum::<usize>()
            + self
                .x_ticks
                .iter()
                .map(|t| 96 + t.label.len())
                .sum::<usize>()
    }

    /// The assessments that can be placed, sorted by time. A total that is not a number cannot
    /// be drawn; one outside the y range can, at its edge.
    fn drawable_points(&self) -> Vec<&TrendPoint> {
        let mut points: Vec<&TrendPoint> = self
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .collect();
        if !points.is_sorted_by(|a, b| a.x <= b.x) {
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
        }
        points
    }

    fn write_description<W: Write>(
        &self,
        out: &mut W,
        points: &[&TrendPoint],
        frame: &Frame,
    ) -> fmt::Result {
        let (Some(first), Some(latest)) = (points.first(), points.last()) else {
            out.write_str(EMPTY_MESSAGE)?;
            out.write_str(".")?;
            return self.describe_context(out, frame, 0);
        };
        let noun = if points.len() == 1 {
            "assessment"
        } else {
            "assessments"
        };
        write!(out, "{} {noun}", points.len())?;
        if points.len() > 1 {
            out.write_str(", first ")?;
            write_value(out, first)?;
            out.write_str(", latest ")?;
        } else {
            out.write_str(": ")?;
        }
        write_value(out, latest)?;
        if let Some(band) = self
            .bands
            .iter()
            .find(|b| b.lo <= latest.y && latest.y <= b.hi)
        {
            write!(out, ", in the {} band", escape(&band.label))?;
        }
        if points.len() > 1 {
            let (lowest, highest) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
                (lo.min(p.y), hi.max(p.y))
            });
            write!(out, "; lowest {}, highest {}", Num(lowest), Num(highest))?;
        }
        out.write_str(".")?;
        let outside = points
            .iter()
            .filter(|p| p.y < frame.y_lo || p.y > frame.y_hi)
            .count();
        self.describe_context(out, frame, outside)
    }

    fn describe_context<W: Write>(
        &self,
        out: &mut W,
        frame: &Frame,
        outside: usize,
    ) -> fmt::Result {
        if outside > 0 {
            let (noun, verb) = if outside == 1 {
                ("value", "lies")
            } else {
                ("values", "lie")
            };
            write!(
                out,
                " {outside} {noun} {verb} outside the axis range {}–{} and {} drawn at the nearest edge.",
                Num(frame.y_lo),
                Num(frame.y_hi),
                if outside == 1 { "is" } else { "are" },
            )?;
        }
        let doses = self.markers.iter().filter(|m| m.x.is_finite()).count();
        if doses > 0 {
            let noun = if doses == 1 { "session" } else { "sessions" };
            write!(out, " {doses} dosing {noun} marked.")?;
        }
        if let Some(r) = self.reference.as_ref().filter(|r| frame.shows_y(r.y)) {
            write!(
                out,
                " Reference line at {}: {}.",
                Num(r.y),
                escape(&r.label)
            )?;
        }
        Ok(())
    }

    fn write_bands<W: Write>(&self, out: &mut W, frame: &Frame) -> fmt::Result {
        if self.bands.is_empty() {
            return Ok(());
        }
        out.write_str(r#"<g class="bands">"#)?;
        let last = self.bands.len().saturating_sub(1).max(1);
        for (i, band) in self.bands.iter().enumerate() {
            if !(band.lo.is_finite() && band.hi.is_finite()) {
                continue;
            }
            let lo = band.lo.max(frame.y_lo);
            let hi = band.hi.min(frame.y_hi);
            if lo >= hi {
                continue;
            }
            let (top, bottom) = (frame.y.at(hi), frame.y.at(lo));
            // Spread the palette over however many bands there are, so the most severe is red.
            let fill = BAND_FILLS[(i * (BAND_FILLS.len() - 1) / last).min(BAND_FILLS.len() - 1)];
            write!(
                out,
                r#"<rect class="band band-{i}" x="{}" y="{}" width="{}" height="{}" fill="{fill}" fill-opacity="0.14"><title>{}</title></rect>"#,
                Num(frame.left),
                Num(top),
                Num(frame.right - frame.left),
                Num(bottom - top),
                escape(&band.label),
            )?;
            if bottom - top >= 12.0 {
                write!(
                    out,
                    r#"<text class="band-label" x="{}" y="{}" text-anchor="end" fill="{MUTED}" font-size="10">{}</text>"#,
                    Num(frame.right - 4.0),
                    Num(top + 11.0),
                    escape(&band.label),
                )?;
            }
        }
        out.write_str("</g>")
    }

    fn write_x_axis<W: Write>(&self, out: &mut W, frame: &Frame) -> fmt::Result {
        write!(
            out,
            r#"<g class="x-axis" stroke="{AXIS}"><line x1="{l}" y1="{b}" x2="{r}" y2="{b}"/>"#,
            l = Num(frame.left),
            r = Num(frame.right),
            b = Num(frame.bottom),
        )?;
        let generated: Vec<XTick>;
        let ticks: &[XTick] = if !self.x_ticks.is_empty() {
            &self.x_ticks
        } else if frame.has_points {
            generated = nice_ticks(frame.x_lo, frame.x_hi, 6)
                .into_iter()
                .map(|x| XTick {
                    x,
                    label: Num(x).to_string(),
                })
                .collect();
            &generated
        } else {
            // Round numbers around a lone dose or an empty domain would only be noise.
            &[]
        };
        let mut labels = Vec::new();
        let mut free_from = f64::MIN;
        for XTick { x, label } in ticks.iter().filter(|t| t.x.is_finite()) {
            let px = frame.x.at(*x);
            let half = label.chars().count() as f64 * CHAR_WIDTH / 2.0;
            if px - half < free_from {
                continue;
            }
            free_from = px + half + 4.0;
            write!(
                out,
                r#"<line x1="{p}" y1="{b}" x2="{p}" y2="{}"/>"#,
                Num(frame.bottom + 4.0),
                p = Num(px),
                b = Num(frame.bottom),
            )?;
            labels.push((px, label));
        }
        write!(
            out,
            r#"</g><g class="x-labels" text-anchor="middle" fill="{MUTED}">"#
        )?;
        for (px, label) in labels {
            write!(
                out,
                r#"<text x="{}" y="{}">{}</text>"#,
                Num(px),
                Num(frame.bottom + 15.0),
                escape(label),
            )?;
        }
        out.write_str("</g>")
    }

    fn write_reference<W: Write>(&self, out: &mut W, frame: &Frame) -> fmt::Result {
        let Some(r) = self.reference.as_ref().filter(|r| frame.shows_y(r.y)) else {
            return Ok(());
        };
        let y = frame.y.at(r.y);
        write!(
            out,
            r#"<g class="reference"><title>{label}</title><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{REFERENCE}" stroke-width="1.5" stroke-dasharray="6 3"/><text x="{}" y="{}" fill="{REFERENCE}" font-size="10">{label}</text></g>"#,
            Num(frame.left),
            Num(frame.right),
            Num(frame.left + 4.0),
            Num(y - 4.0),
            y = Num(y),
            label = escape(&r.label),
        )
    }

    fn write_markers<W: Write>(&self, out: &mut W, frame: &Frame) -> fmt::Result {
        let mut markers: Vec<&DoseMarker> =
            self.markers.iter().filter(|m| m.x.is_finite()).collect();
        if markers.is_empty() {
            return Ok(());
        }
        if !markers.is_sorted_by(|a, b| a.x <= b.x) {
            markers.sort_by(|a, b| a.x.total_cmp(&b.x));
        }
        write!(
            out,
            r#"<g class="doses" stroke="{DOSE}" stroke-dasharray="3 3">"#
        )?;
        let (top, bottom) = (Num(frame.top), Num(frame.bottom));
        for m in &markers {
            let x = Num(frame.x.at(m.x));
            write!(
                out,
                r#"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"><title>{}</title></line>"#,
                escape(&m.label),
            )?;
        }
        write!(
            out,
            r#"</g><g class="dose-labels" text-anchor="middle" fill="{DOSE}" font-size="10">"#
        )?;
        // Every dose keeps its line and tooltip; only labels that would overprint are left out.
        let mut free_from = f64::MIN;
        for m in &markers {
            let x = frame.x.at(m.x);
            let half = m.label.chars().count() as f64 * CHAR_WIDTH / 2.0;
            if x - half < free_from {
                continue;
            }
            free_from = x + half + 4.0;
            write!(
                out,
                r#"<text x="{}" y="{}">{}</text>"#,
                Num(x),
                Num(frame.top - 5.0),
                escape(&m.label),
            )?;
        }
        out.write_str("</g>")
    }
}

fn write_y_axis<W: Write>(out: &mut W, frame: &Frame) -> fmt::Result {
    let ticks = nice_ticks(frame.y_lo, frame.y_hi, 5);
    write!(out, r#"<g class="grid" stroke="{GRID}">"#)?;
    for &v in &ticks {
        write!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}"/>"#,
            Num(frame.left),
            Num(frame.right),
            y = Num(frame.y.at(v)),
        )?;
    }
    write!(
        out,
        r#"</g><g class="y-axis" stroke="{AXIS}"><line x1="{l}" y1="{}" x2="{l}" y2="{}"/></g><g class="y-labels" text-anchor="end" fill="{MUTED}">"#,
        Num(frame.top),
        Num(frame.bottom),
        l = Num(frame.left),
    )?;
    for &v in &ticks {
        write!(
            out,
            r#"<text x="{}" y="{}" dy="0.35em">{}</text>"#,
            Num(frame.left - 6.0),
            Num(frame.y.at(v)),
            Num(v),
        )?;
    }
    out.write_str("</g>")
}

fn write_series<W: Write>(out: &mut W, points: &[&TrendPoint], frame: &Frame) -> fmt::Result {
    write!(
        out,
        r#"<polyline class="series" fill="none" stroke="{SERIES}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round" points=""#
    )?;
    let mut separator = "";
    for p in points {
        let (x, y) = frame.place(p);
        write!(out, "{separator}{},{}", Num(x), Num(y))?;
        separator = " ";
    }
    out.write_str(r#""/>"#)?;
    if points.len() > CIRCLES_UP_TO {
        return Ok(());
    }
    write!(
        out,
        r##"<g class="points" fill="#fff" stroke="{SERIES}" stroke-width="1.5">"##
    )?;
    for p in points {
        let (x, y) = frame.place(p);
        let class = if frame.shows_y(p.y) {
            ""
        } else {
            r#" class="clamped""#
        };
        write!(
            out,
            r#"<circle{class} cx="{}" cy="{}" r="3.5"><title>"#,
            Num(x),
            Num(y)
        )?;
        write_value(out, p)?;
        out.write_str("</title></circle>")?;
    }
    out.write_str("</g>")
}

/// A point's value as a person reads it: the real value, not the clamped one.
fn write_value<W: Write>(out: &mut W, p: &TrendPoint) -> fmt::Result {
    match &p.label {
        Some(label) => write!(out, "{} ({})", Num(p.y), escape(label)),
        None => write!(out, "{}", Num(p.y)),
    }
}

/// Where the plot sits in the picture and how data maps onto it.
struct Frame {
    has_points: bool,
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x_lo: f64,
    x_hi: f64,
    y_lo: f64,
    y_hi: f64,
    x: Linear,
    y: Linear,
}

impl Frame {
    fn new(chart: &TrendChart, points: &[&TrendPoint]) -> Frame {
        let width = f64::from(chart.width.max(MIN_WIDTH));
        let height = f64::from(chart.height.max(MIN_HEIGHT));
        let (left, right) = (MARGIN_LEFT, width - MARGIN_RIGHT);
        let strip = if chart.markers.iter().any(|m| m.x.is_finite()) {
            DOSE_LABEL_STRIP
        } else {
            0.0
        };
        let (top, bottom) = (MARGIN_TOP + strip, height - MARGIN_BOTTOM);
        let xs = points
            .iter()
            .map(|p| p.x)
            .chain(chart.markers.iter().map(|m| m.x))
            .chain(chart.x_ticks.iter().map(|t| t.x))
            .filter(|x| x.is_finite());
        let (x_lo, x_hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        let (x_lo, x_hi) = widen(x_lo, x_hi);
        let (y_lo, y_hi) = widen(chart.y_range.0, chart.y_range.1);
        Frame {
            has_points: !points.is_empty(),
            width,
            height,
            left,
            right,
            top,
            bottom,
            x_lo,
            x_hi,
            y_lo,
            y_hi,
            x: Linear::new((x_lo, x_hi), (left + INSET, right - INSET)),
            y: Linear::new((y_lo, y_hi), (bottom, top)),
        }
    }

    fn shows_y(&self, y: f64) -> bool {
        self.y_lo <= y && y <= self.y_hi
    }

    fn place(&self, p: &TrendPoint) -> (f64, f64) {
        (self.x.at(p.x), self.y.at(p.y.clamp(self.y_lo, self.y_hi)))
    }
}
