//! A chart as a list of marks in its own coordinate space (y grows downwards, as in SVG), so
//! that one chart definition renders both as SVG for the web and the HTML report and as vector
//! drawing in the PDF report.

use crate::svg::{Num, escape};
use std::fmt::Write;

/// What a mark looks like; each renderer maps it to colours and widths (and SVG to a class,
/// so the app's stylesheet can restyle it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    Grid,
    Axis,
    Label,
    Response,
    Remission,
    Mcid,
    Curve,
    Improved,
    Worse,
    Threshold,
    Bar,
}

impl Ink {
    pub fn class(self) -> &'static str {
        match self {
            Ink::Grid => "grid",
            Ink::Axis => "axis",
            Ink::Label => "tick",
            Ink::Response => "response",
            Ink::Remission => "remission",
            Ink::Mcid => "mcid",
            Ink::Curve => "km",
            Ink::Improved => "improved",
            Ink::Worse => "worse",
            Ink::Threshold => "threshold",
            Ink::Bar => "bar",
        }
    }

    /// RGB, chosen to keep 3:1 contrast against white for marks and 4.5:1 for text.
    pub fn rgb(self) -> (u8, u8, u8) {
        match self {
            Ink::Grid => (0xdd, 0xdd, 0xdd),
            Ink::Axis | Ink::Label => (0x33, 0x33, 0x33),
            Ink::Response | Ink::Curve | Ink::Bar => (0x1f, 0x5f, 0xbf),
            Ink::Remission | Ink::Improved => (0x1a, 0x7f, 0x37),
            Ink::Mcid => (0x9a, 0x67, 0x00),
            Ink::Worse => (0xb3, 0x1d, 0x28),
            Ink::Threshold => (0x6e, 0x40, 0xc9),
        }
    }

    pub fn stroke_width(self) -> f64 {
        match self {
            Ink::Response | Ink::Remission | Ink::Mcid | Ink::Curve => 2.0,
            _ => 1.0,
        }
    }

    fn hex(self) -> String {
        let (r, g, b) = self.rgb();
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    Line {
        from: (f64, f64),
        to: (f64, f64),
        ink: Ink,
    },
    /// A filled rectangle; `title` is its tooltip in SVG.
    Rect {
        at: (f64, f64),
        size: (f64, f64),
        ink: Ink,
        title: Option<String>,
    },
    Dot {
        at: (f64, f64),
        r: f64,
        ink: Ink,
        title: Option<String>,
    },
    /// An open polyline.
    Path { points: Vec<(f64, f64)>, ink: Ink },
    Text {
        at: (f64, f64),
        anchor: Anchor,
        text: String,
        ink: Ink,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub marks: Vec<Mark>,
}

impl Figure {
    pub fn new(title: impl Into<String>, width: f64, height: f64) -> Figure {
        Figure {
            title: title.into(),
            width,
            height,
            marks: Vec::new(),
        }
    }

    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), ink: Ink) {
        self.marks.push(Mark::Line { from, to, ink });
    }

    pub fn text(&mut self, at: (f64, f64), anchor: Anchor, text: impl Into<String>) {
        self.marks.push(Mark::Text {
            at,
            anchor,
            text: text.into(),
            ink: Ink::Label,
        });
    }

    /// The figure as an SVG element; every text is escaped, so labels may come from anywhere.
    pub fn svg(&self) -> String {
        let mut s = String::with_capacity(256 + self.marks.len() * 96);
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" class=\"cohort-chart\" font-family=\"sans-serif\" font-size=\"11\"><title>{}</title>",
            Num(self.width),
            Num(self.height),
            escape(&self.title)
        );
        for m in &self.marks {
            match m {
                Mark::Line { from, to, ink } => {
                    let _ = write!(
                        s,
                        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>",
                        Num(from.0),
                        Num(from.1),
                        Num(to.0),
                        Num(to.1),
                        ink.class(),
                        ink.hex(),
                        Num(ink.stroke_width()),
                        if *ink == Ink::Threshold {
                            " stroke-dasharray=\"4 3\""
                        } else {
                            ""
                        }
                    );
                }
                Mark::Rect {
                    at,
                    size,
                    ink,
                    title,
                } => {
                    let _ = write!(
                        s,
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"{}\" fill=\"{}\">",
                        Num(at.0),
                        Num(at.1),
                        Num(size.0),
                        Num(size.1),
                        ink.class(),
                        ink.hex()
                    );
                    if let Some(t) = title {
                        let _ = write!(s, "<title>{}</title>", escape(t));
                    }
                    s.push_str("</rect>");
                }
                Mark::Dot { at, r, ink, title } => {
                    let _ = write!(
                        s,
                        "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" class=\"{}\" fill=\"{}\">",
                        Num(at.0),
                        Num(at.1),
                        Num(*r),
                        ink.class(),
                        ink.hex()
                    );
                    if let Some(t) = title {
                        let _ = write!(s, "<title>{}</title>", escape(t));
                    }
                    s.push_str("</circle>");
                }
                Mark::Path { points, ink } => {
                    s.push_str("<path d=\"");
                    for (i, (x, y)) in points.iter().enumerate() {
                        let _ = write!(
                            s,
                            "{}{},{}",
                            if i == 0 { 'M' } else { 'L' },
                            Num(*x),
                            Num(*y)
                        );
                    }
                    let _ = write!(
                        s,
                        "\" class=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"/>",
                        ink.class(),
                        ink.hex(),
                        Num(ink.stroke_width())
                    );
                }
                Mark::Text {
                    at,
                    anchor,
                    text,
                    ink,
                } => {
                    let anchor = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let _ = write!(
                        s,
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" class=\"{}\" fill=\"{}\">{}</text>",
                        Num(at.0),
                        Num(at.1),
                        ink.class(),
                        ink.hex(),
                        escape(text)
                    );
                }
            }
        }
        s.push_str("</svg>");
        s
    }
}
