//! A small PDF 1.4 writer for reports: A4 pages of Helvetica text and vector [`Figure`]s, with
//! a footer on every page. It needs no fonts or libraries (the 14 standard fonts are built into
//! every PDF reader), which keeps the binary lean; text outside Windows-1252 is transliterated.

use crate::figure::{Anchor, Figure, Ink, Mark};
use std::fmt::Write;

pub const PAGE_W: f64 = 595.0;
pub const PAGE_H: f64 = 842.0;
pub const MARGIN: f64 = 50.0;
pub const CONTENT_W: f64 = PAGE_W - 2.0 * MARGIN;
const FOOTER_Y: f64 = 28.0;

/// Helvetica's advance widths (per 1000 em) for ASCII 32–126, from Adobe's AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

/// `text` in Windows-1252 (the PDF's WinAnsiEncoding), with the few signs reports use that it
/// lacks spelled out.
pub fn win_ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c as u8),
            '\u{a0}'..='\u{ff}' => out.push(u8::try_from(u32::from(c)).unwrap_or(b'?')),
            '\u{20ac}' => out.push(0x80),
            '\u{2026}' => out.push(0x85),
            '\u{2018}' => out.push(0x91),
            '\u{2019}' => out.push(0x92),
            '\u{201c}' => out.push(0x93),
            '\u{201d}' => out.push(0x94),
            '\u{2022}' => out.push(0x95),
            '\u{2013}' => out.push(0x96),
            '\u{2014}' => out.push(0x97),
            '\u{2122}' => out.push(0x99),
            '\u{2265}' => out.extend_from_slice(b">="),
            '\u{2264}' => out.extend_from_slice(b"<="),
            '\u{2212}' => out.push(b'-'),
            '\u{2192}' => out.extend_from_slice(b"->"),
            '\u{2248}' => out.push(b'~'),
            '\t' | '\n' | '\r' => out.push(b' '),
            _ => out.push(b'?'),
        }
    }
    out
}

/// The width of `text` in points at `size`.
pub fn width(text: &str, font: Font, size: f64) -> f64 {
    let units: u32 = win_ansi(text)
        .iter()
        .map(|b| match b {
            32..=126 => u32::from(HELVETICA[usize::from(b - 32)]),
            _ => 556,
        })
        .sum();
    // Helvetica-Bold runs about 5 % wider; close enough for wrapping and right alignment.
    let bold = if font == Font::Bold { 1.05 } else { 1.0 };
    f64::from(units) * size / 1000.0 * bold
}

/// `text` broken into lines no wider than `max` points.
pub fn wrap(text: &str, font: Font, size: f64, max: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && width(&candidate, font, size) > max {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn literal(out: &mut Vec<u8>, text: &str) {
    out.push(b'(');
    for b in win_ansi(text) {
        if matches!(b, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b')');
}

fn colour(out: &mut Vec<u8>, ink: Ink, fill: bool) {
    let (r, g, b) = ink.rgb();
    let _ = writeln!(
        Sink(out),
        "{:.3} {:.3} {:.3} {}",
        f64::from(r) / 255.0,
        f64::from(g) / 255.0,
        f64::from(b) / 255.0,
        if fill { "rg" } else { "RG" }
    );
}

/// `fmt::Write` into a byte buffer, for content-stream operators.
struct Sink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A document being laid out top to bottom; [`Pdf::finish`] writes the file.
pub struct Pdf {
    title: String,
    footer: String,
    pages: Vec<Vec<u8>>,
    /// The next line's top, in PDF coordinates (from the bottom).
    y: f64,
}

impl Pdf {
    /// `footer` goes on every page with the page number (e.g. "Synthetic data").
    pub fn new(title: &str, footer: &str) -> Pdf {
        Pdf {
            title: title.into(),
            footer: footer.into(),
            pages: vec![Vec::new()],
            y: PAGE_H - MARGIN,
        }
    }

    fn page(&mut self) -> &mut Vec<u8> {
        self.pages.last_mut().expect("a document always has a page")
    }

    /// Starts a new page unless `height` more points fit on this one.
    pub fn ensure(&mut self, height: f64) {
        if self.y - height < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE_H - MARGIN;
        }
    }

    pub fn space(&mut self, height: f64) {
        self.y -= height;
    }

    fn text_at(&mut self, x: f64, baseline: f64, text: &str, font: Font, size: f64, ink: Ink) {
        let out = self.page();
        colour(out, ink, true);
        let _ = write!(
            Sink(out),
            "BT /{} {size:.1} Tf {x:.2} {baseline:.2} Td ",
            font.resource()
        );
        literal(out, text);
        out.extend_from_slice(b" Tj ET\n");
    }

    /// A wrapped paragraph across the content width, indented by `indent`.
    pub fn paragraph(&mut self, text: &str, font: Font, size: f64, indent: f64) {
        let leading = size * 1.3;
        for line in wrap(text, font, size, CONTENT_W - indent) {
            self.ensure(leading);
            self.y -= leading;
            let baseline = self.y + size * 0.25;
            self.text_at(MARGIN + indent, baseline, &line, font, size, Ink::Label);
        }
    }

    /// One table row: each cell is (x offset from the margin, lines of text); the row is as tall
    /// as its tallest cell and never split across pages.
    pub fn row(&mut self, cells: &[(f64, Vec<String>)], font: Font, size: f64) {
        let leading = size * 1.25;
        let lines = cells.iter().map(|c| c.1.len()).max().unwrap_or(1).max(1);
        #[allow(clippy::cast_precision_loss)]
        let height = leading * lines as f64 + 3.0;
        self.ensure(height);
        let top = self.y;
        for (x, texts) in cells {
            for (i, t) in texts.iter().enumerate() {
                #[allow(clippy::cast_precision_loss)]
                let baseline = top - leading * (i as f64 + 1.0) + size * 0.25;
                // Later lines (a rate's interval) are smaller and never bold.
                let (f, s) = if i == 0 {
                    (font, size)
                } else {
                    (Font::Regular, size * 0.9)
                };
                self.text_at(MARGIN + x, baseline, t, f, s, Ink::Label);
            }
        }
        self.y -= height;
        let y = self.y + 1.0;
        let out = self.page();
        colour(out, Ink::Grid, false);
        let _ = writeln!(
            Sink(out),
            "0.5 w {MARGIN:.2} {y:.2} m {:.2} {y:.2} l S",
            MARGIN + CONTENT_W
        );
    }

    /// A figure under its title, scaled to the content width (never enlarged), never split
    /// across pages.
    pub fn figure(&mut self, fig: &Figure) {
        let s = (CONTENT_W / fig.width).min(1.0);
        let title = wrap(&fig.title, Font::Bold, 8.5, CONTENT_W);
        #[allow(clippy::cast_precision_loss)]
        self.ensure(fig.height * s + 6.0 + title.len() as f64 * 11.0 + 4.0);
        self.space(4.0);
        self.paragraph(&fig.title, Font::Bold, 8.5, 0.0);
        let top = self.y;
        let x0 = MARGIN;
        let at = |(x, y): (f64, f64)| (x0 + x * s, top - y * s);
        let out = self.page();
        out.extend_from_slice(b"q\n");
        for m in &fig.marks {
            match m {
                Mark::Line { from, to, ink } => {
                    let (a, b) = (at(*from), at(*to));
                    colour(out, *ink, false);
                    let dash = if *ink == Ink::Threshold {
                        "[4 3] 0 d"
                    } else {
                        "[] 0 d"
                    };
                    let _ = writeln!(
                        Sink(out),
                        "{dash} {:.2} w {:.2} {:.2} m {:.2} {:.2} l S",
                        ink.stroke_width() * s,
                        a.0,
                        a.1,
                        b.0,
                        b.1
                    );
                }
                Mark::Rect {
                    at: p, size, ink, ..
                } => {
                    let (x, y) = at(*p);
                    colour(out, *ink, true);
                    let _ = writeln!(
                        Sink(out),
                        "{x:.2} {:.2} {:.2} {:.2} re f",
                        y - size.1 * s,
                        size.0 * s,
                        size.1 * s
                    );
                }
                Mark::Dot { at: p, r, ink, .. } => {
                    let (cx, cy) = at(*p);
                    colour(out, *ink, true);
                    circle(out, cx, cy, r * s);
                }
                Mark::Path { points, ink } => {
                    colour(out, *ink, false);
                    let _ = write!(Sink(out), "[] 0 d {:.2} w", ink.stroke_width() * s);
                    for (i, p) in points.iter().enumerate() {
                        let (x, y) = at(*p);
                        let _ = write!(
                            Sink(out),
                            " {x:.2} {y:.2} {}",
                            if i == 0 { "m" } else { "l" }
                        );
                    }
                    out.extend_from_slice(b" S\n");
                }
                Mark::Text { .. } => {}
            }
        }
        out.extend_from_slice(b"Q\n");
        // Text after the drawing, so labels sit on top of bars.
        for m in &fig.marks {
            if let Mark::Text {
                at: p,
                anchor,
                text,
                ink,
            } = m
            {
                let size = 11.0 * s * 0.8;
                let (x, y) = at(*p);
                let x = match anchor {
                    Anchor::Start => x,
                    Anchor::Middle => x - width(text, Font::Regular, size) / 2.0,
                    Anchor::End => x - width(text, Font::Regular, size),
                };
                self.text_at(x, y, text, Font::Regular, size, *ink);
            }
        }
        self.y -= fig.height * s + 6.0;
    }

    /// The file: catalog, page tree, two fonts, the pages, and a cross-reference table.
    pub fn finish(mut self) -> Vec<u8> {
        let count = self.pages.len();
        let footer = self.footer.clone();
        for (i, out) in self.pages.iter_mut().enumerate() {
            let text = format!("{footer} · page {} of {count}", i + 1);
            colour(out, Ink::Axis, true);
            let _ = write!(Sink(out), "BT /F1 8.0 Tf {MARGIN:.2} {FOOTER_Y:.2} Td ");
            literal(out, &text);
            out.extend_from_slice(b" Tj ET\n");
        }

        let mut objects: Vec<Vec<u8>> = Vec::new();
        // 1 catalog, 2 pages, 3 regular font, 4 bold font, 5 info, then page and content pairs.
        objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        let kids: Vec<String> = (0..count).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
        objects.push(
            format!(
                "<< /Type /Pages /Kids [{}] /Count {count} >>",
                kids.join(" ")
            )
            .into_bytes(),
        );
        for name in ["Helvetica", "Helvetica-Bold"] {
            objects.push(
                format!(
                    "<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>"
                )
                .into_bytes(),
            );
        }
        let mut info = b"<< /Producer (kapstone) /Title ".to_vec();
        literal(&mut info, &self.title);
        info.extend_from_slice(b" >>");
        objects.push(info);
        for (i, content) in self.pages.iter().enumerate() {
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
                     /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                    7 + 2 * i
                )
                .into_bytes(),
            );
            let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
            stream.extend_from_slice(content);
            stream.extend_from_slice(b"\nendstream");
            objects.push(stream);
        }

        let mut file = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, body) in objects.iter().enumerate() {
            offsets.push(file.len());
            let _ = writeln!(Sink(&mut file), "{} 0 obj", i + 1);
            file.extend_from_slice(body);
            file.extend_from_slice(b"\nendobj\n");
        }
        let xref = file.len();
        let _ = write!(
            Sink(&mut file),
            "xref\n0 {}\n0000000000 65535 f \n",
            objects.len() + 1
        );
        for o in offsets {
            let _ = writeln!(Sink(&mut file), "{o:010} 00000 n ");
        }
        let _ = write!(
            Sink(&mut file),
            "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        file
    }
}

/// A filled circle from four Bézier quarter arcs.
fn circle(out: &mut Vec<u8>, cx: f64, cy: f64, r: f64) {
    // The control-point distance that makes a cubic Bézier closest to a quarter circle.
    let k = 0.552_284_75 * r;
    let _ = writeln!(
        Sink(out),
        "{:.2} {cy:.2} m {:.2} {:.2} {:.2} {:.2} {cx:.2} {:.2} c {:.2} {:.2} {:.2} {:.2} {:.2} {cy:.2} c \
         {:.2} {:.2} {:.2} {:.2} {cx:.2} {:.2} c {:.2} {:.2} {:.2} {:.2} {:.2} {cy:.2} c f",
        cx + r,
        cx + r,
        cy + k,
        cx + k,
        cy + r,
        cy + r,
        cx - k,
        cy + r,
        cx - r,
        cy + k,
        cx - r,
        cx - r,
        cy - k,
        cx - k,
        cy - r,
        cy - r,
        cx + k,
        cy - r,
        cx + r,
        cy - k,
        cx + r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_reference_offsets_point_at_their_objects() {
        let mut pdf = Pdf::new("A (test) report", "Synthetic data");
        pdf.paragraph("Hello – world ≥ 4 (tests)", Font::Bold, 12.0, 0.0);
        for _ in 0..80 {
            pdf.paragraph("a line that fills the page", Font::Regular, 10.0, 0.0);
        }
        let bytes = pdf.finish();
        // The binary marker in line 2 is not UTF-8; offsets are counted in bytes.
        let tail = |from: usize| String::from_utf8_lossy(&bytes[from..]).into_owned();
        let marker = b"startxref\n";
        let at = bytes
            .windows(marker.len())
            .rposition(|w| w == marker)
            .expect("startxref");
        let start: usize = tail(at + marker.len())
            .lines()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("an offset");
        let xref = tail(start);
        assert!(xref.starts_with("xref\n0 "));
        let entries: Vec<usize> = xref
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .map(|l| l[..10].parse().expect("offset"))
            .collect();
        assert_eq!(entries.len(), 5 + 2 * 2, "two pages of text");
        for (i, off) in entries.iter().enumerate() {
            assert!(
                tail(*off).starts_with(&format!("{} 0 obj", i + 1)),
                "object {}",
                i + 1
            );
        }
        let text = tail(0);
        assert!(text.contains("page 2 of 2"));
    }

    #[test]
    fn text_is_escaped_and_transliterated() {
        let mut out = Vec::new();
        literal(&mut out, "a (b) \\ ≥ – é ☃");
        assert_eq!(out, b"(a \\(b\\) \\\\ >= \x96 \xe9 ?)".to_vec());
        assert_eq!(
            wrap("one two three four", Font::Regular, 10.0, 40.0),
            vec!["one two", "three", "four"]
        );
    }
}
