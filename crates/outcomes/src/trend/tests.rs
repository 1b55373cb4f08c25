use super::*;
use crate::xml_check::check;
use kapstone_clinical::instrument::Library;
use proptest::prelude::*;

fn instrument_chart(id: &str) -> TrendChart {
    let library = Library::builtin().expect("the built-in library loads");
    TrendChart::for_instrument(library.get(id).expect("a built-in instrument")).expect("a total")
}

fn point(x: f64, y: f64, label: Option<&str>) -> TrendPoint {
    TrendPoint {
        x,
        y,
        label: label.map(str::to_string),
    }
}

fn dose(x: f64, n: u32) -> DoseMarker {
    DoseMarker {
        x,
        label: format!("Dose {n}"),
    }
}

/// A PHQ-9 course: baseline, four doses over two weeks, weekly scores, follow-up.
fn phq9_course() -> TrendChart {
    let mut chart = instrument_chart("phq9");
    chart.points = vec![
        point(0.0, 20.0, Some("3 Mar 2025")),
        point(7.0, 15.0, Some("10 Mar 2025")),
        point(14.0, 11.0, Some("17 Mar 2025")),
        point(42.0, 8.0, Some("14 Apr 2025")),
    ];
    chart.markers = [1.0, 4.0, 8.0, 11.0]
        .iter()
        .zip(1..)
        .map(|(&x, n)| dose(x, n))
        .collect();
    chart.x_ticks = vec![
        XTick {
            x: 0.0,
            label: "3 Mar".into(),
        },
        XTick {
            x: 42.0,
            label: "14 Apr".into(),
        },
    ];
    chart
}

fn well_formed(svg: &str) -> usize {
    check(svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"))
}

/// The value of every `name="…"` attribute, in document order.
fn attribute_values<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    svg.match_indices(&needle)
        .map(|(at, _)| {
            let start = at + needle.len();
            let len = svg[start..].find('"').expect("a closing quote");
            &svg[start..start + len]
        })
        .collect()
}

fn polyline_points(svg: &str) -> Vec<(f64, f64)> {
    let points = attribute_values(svg, "points");
    assert_eq!(points.len(), 1, "one polyline");
    points[0]
        .split(' ')
        .map(|pair| {
            let (x, y) = pair.split_once(',').expect("x,y");
            (x.parse().expect("a number"), y.parse().expect("a number"))
        })
        .collect()
}

/// Text of every element called `name` (no nested markup inside it).
fn texts<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    svg.match_indices(&open)
        .filter_map(|(at, _)| {
            let body = &svg[at..];
            let start = body.find('>')? + 1;
            let end = body.find(&close)?;
            Some(&body[start..end])
        })
        .collect()
}

#[test]
fn a_course_renders_as_one_well_formed_accessible_svg() {
    let svg = phq9_course().render();
    well_formed(&svg);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>"));
    assert!(svg.contains(r#" role="img""#));
    assert!(svg.contains("<title>PHQ-9</title><desc>"));
    assert_eq!(
        texts(&svg, "desc"),
        [
            "4 assessments, first 20 (3 Mar 2025), latest 8 (14 Apr 2025), in the Mild band; \
             lowest 8, highest 20. 4 dosing sessions marked."
        ]
    );
}

#[test]
fn the_instruments_bands_are_shaded_and_labelled() {
    let svg = phq9_course().render();
    assert_eq!(svg.matches(r#"class="band band-"#).count(), 5);
    let labels = texts(&svg, "text");
    for band in ["Minimal", "Mild", "Moderate", "Moderately severe", "Severe"] {
        assert!(labels.contains(&band), "{band} is labelled");
    }
    // Least severe green, most severe red, drawn see-through.
    let fills = attribute_values(&svg, "fill");
    assert!(fills.contains(&"#2e7d32") && fills.contains(&"#c62828"));
    assert_eq!(svg.matches(r#"fill-opacity="0.14""#).count(), 5);
}

#[test]
fn band_edges_fall_between_whole_totals() {
    let chart = instrument_chart("phq9");
    assert_eq!(chart.y_range, (0.0, 27.0));
    let edges: Vec<_> = chart.bands.iter().map(|b| (b.lo, b.hi)).collect();
    assert_eq!(
        edges,
        [
            (-0.5, 4.5),
            (4.5, 9.5),
            (9.5, 14.5),
            (14.5, 19.5),
            (19.5, 27.5)
        ]
    );
    assert!(instrument_chart("pcl5").bands.is_empty());
    assert_eq!(instrument_chart("pcl5").y_range, (0.0, 80.0));
    let library = Library::builtin().expect("the built-in library loads");
    let asq = library.get("asq").expect("asq");
    assert_eq!(TrendChart::for_instrument(asq), None, "ASQ has no total");
}

#[test]
fn every_dose_has_a_dashed_line_with_a_tooltip() {
    let svg = phq9_course().render();
    assert!(svg.contains(r##"<g class="doses" stroke="#5c6bc0" stroke-dasharray="3 3">"##));
    for n in 1..=4 {
        assert!(svg.contains(&format!("<title>Dose {n}</title></line>")));
    }
}

#[test]
fn crowded_dose_labels_are_left_out_but_every_line_stays() {
    let mut chart = phq9_course();
    chart.markers = (0..1000)
        .map(|i| dose(f64::from(i) * 0.042, i + 1))
        .collect();
    let svg = chart.render();
    well_formed(&svg);
    assert_eq!(svg.matches("</title></line>").count(), 1000);
    let labels = texts(&svg, "text")
        .into_iter()
        .filter(|t| t.starts_with("Dose "))
        .count();
    assert!((1..100).contains(&labels), "{labels} dose labels");
}

#[test]
fn each_point_has_a_circle_with_its_value_and_label() {
    let svg = phq9_course().render();
    assert_eq!(svg.matches("<circle").count(), 4);
    assert!(svg.contains("<title>20 (3 Mar 2025)</title></circle>"));
    let mut chart = phq9_course();
    chart.points[1].label = None;
    assert!(chart.render().contains("<title>15</title></circle>"));
}

#[test]
fn past_500_points_the_line_keeps_every_point_but_circles_are_dropped() {
    let mut chart = instrument_chart("gad7");
    chart.points = (0..=CIRCLES_UP_TO)
        .map(|i| point(i as f64, (i % 22) as f64, None))
        .collect();
    let svg = chart.render();
    well_formed(&svg);
    assert_eq!(polyline_points(&svg).len(), CIRCLES_UP_TO + 1);
    assert_eq!(svg.matches("<circle").count(), 0);
    chart.points.pop();
    assert_eq!(chart.render().matches("<circle").count(), CIRCLES_UP_TO);
}

#[test]
fn points_are_joined_in_time_order_whatever_the_input_order() {
    let mut chart = phq9_course();
    chart.points.reverse();
    chart.points.swap(1, 2);
    let xs: Vec<f64> = polyline_points(&chart.render())
        .iter()
        .map(|p| p.0)
        .collect();
    assert!(xs.is_sorted(), "{xs:?}");
    assert_eq!(
        polyline_points(&chart.render()),
        polyline_points(&phq9_course().render())
    );
}

#[test]
fn values_outside_the_range_are_clamped_to_its_edge_and_say_so() {
    let mut chart = instrument_chart("phq9");
    chart.points = vec![
        point(0.0, 40.0, None),
        point(1.0, 27.0, None),
        point(2.0, 0.0, None),
        point(3.0, -5.0, None),
    ];
    let svg = chart.render();
    well_formed(&svg);
    let ys: Vec<f64> = polyline_points(&svg).iter().map(|p| p.1).collect();
    let (top, bottom) = (MARGIN_TOP, f64::from(HEIGHT) - MARGIN_BOTTOM);
    assert_eq!(ys, [top, top, bottom, bottom]);
    assert_eq!(svg.matches(r#"<circle class="clamped""#).count(), 2);
    assert!(
        svg.contains("<title>40</title>"),
        "the tooltip keeps the real value"
    );
    assert!(
        svg.contains("2 values lie outside the axis range 0–27 and are drawn at the nearest edge.")
    );
}

#[test]
fn an_empty_series_says_there_are_no_assessments_yet() {
    let mut chart = instrument_chart("pcl5");
    chart.markers = vec![dose(3.0, 1)];
    let svg = chart.render();
    well_formed(&svg);
    assert!(svg.contains(">No assessments yet</text>"));
    assert_eq!(
        texts(&svg, "desc"),
        ["No assessments yet. 1 dosing session marked."]
    );
    assert!(!svg.contains("<polyline"));
    assert!(svg.contains("<title>Dose 1</title>"));
    let bare = TrendChart::new("", (0.0, 0.0)).render();
    well_formed(&bare);
    assert!(bare.contains("No assessments yet"));
}

#[test]
fn totals_that_are_not_numbers_are_not_drawn() {
    let mut chart = phq9_course();
    chart.points.push(point(50.0, f64::NAN, None));
    chart.points.push(point(f64::INFINITY, 3.0, None));
    let svg = chart.render();
    well_formed(&svg);
    assert_eq!(polyline_points(&svg).len(), 4);
}

#[test]
fn the_reference_line_is_drawn_and_described_when_inside_the_range() {
    let mut chart = instrument_chart("pcl5");
    chart.points = vec![point(0.0, 51.0, None), point(30.0, 29.0, None)];
    chart.reference = Some(ReferenceLine {
        y: 33.0,
        label: "Probable PTSD cut-off (33)".into(),
    });
    let svg = chart.render();
    well_formed(&svg);
    assert!(svg.contains(r#"<g class="reference"><title>Probable PTSD cut-off (33)</title>"#));
    assert!(svg.contains("Reference line at 33: Probable PTSD cut-off (33)."));
    chart.reference = Some(ReferenceLine {
        y: 90.0,
        label: "off the scale".into(),
    });
    let svg = chart.render();
    assert!(!svg.contains("reference") && !svg.contains("off the scale"));
}

#[test]
fn without_tick_labels_the_x_axis_gets_round_numbers() {
    let mut chart = phq9_course();
    chart.x_ticks.clear();
    let svg = chart.render();
    well_formed(&svg);
    let labels = texts(&svg, "text");
    for n in ["0", "10", "20", "30", "40"] {
        assert!(labels.contains(&n), "x label {n} in {labels:?}");
    }
}

#[test]
fn every_caller_text_is_escaped() {
    let evil = r#"<script>alert(1)</script> & "quoted" 'single'"#;
    let mut chart = TrendChart::new(evil, (0.0, 27.0));
    chart.bands = vec![SeverityBand {
        label: evil.into(),
        lo: 0.0,
        hi: 10.0,
    }];
    chart.points = vec![point(0.0, 5.0, Some(evil)), point(1.0, 6.0, Some(evil))];
    chart.markers = vec![DoseMarker {
        x: 0.5,
        label: evil.into(),
    }];
    chart.reference = Some(ReferenceLine {
        y: 10.0,
        label: evil.into(),
    });
    chart.x_ticks = vec![XTick {
        x: 0.0,
        label: evil.into(),
    }];
    let svg = chart.render();
    well_formed(&svg);
    assert!(!svg.contains("<script"));
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; &#39;single&#39;";
    // Title twice, desc, band title and label, two tooltips, dose line and label, reference
    // title and label, x tick.
    assert!(svg.matches(escaped).count() >= 11, "{svg}");
}

#[test]
fn nothing_a_content_security_policy_would_block() {
    let svg = phq9_course().render();
    for forbidden in [
        "style",
        "<script",
        " on",
        "href",
        "javascript:",
        "url(",
        "<image",
        "<a ",
    ] {
        assert!(!svg.contains(forbidden), "{forbidden} in {svg}");
    }
}

#[test]
fn numbers_carry_at_most_one_decimal() {
    let mut chart = phq9_course();
    chart.width = 733;
    chart.points.push(point(13.333, 7.777, None));
    let svg = chart.render();
    for name in [
        "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height", "points",
    ] {
        for value in attribute_values(&svg, name) {
            for number in value.split([' ', ',']) {
                let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
                assert!(decimals <= 1, "{name}={value}");
                number.parse::<f64>().expect("a number");
            }
        }
    }
}

#[test]
fn tiny_sizes_still_give_a_well_formed_chart() {
    let mut chart = phq9_course();
    chart.width = 0;
    chart.height = 0;
    let svg = chart.render();
    well_formed(&svg);
    assert!(svg.contains(r#"width="160" height="100""#));
}

#[test]
fn writing_into_a_buffer_gives_the_same_svg() {
    let chart = phq9_course();
    let mut page = String::from("<div>");
    chart.write_svg(&mut page).expect("writes");
    assert_eq!(page, format!("<div>{}", chart.render()));
}

#[test]
fn ten_thousand_points_and_a_thousand_doses_stay_well_formed() {
    let mut chart = instrument_chart("phq9");
    chart.points = (0..10_000)
        .map(|i| point(f64::from(i), f64::from(i % 28), Some("day")))
        .collect();
    chart.markers = (0..1000)
        .map(|i| dose(f64::from(i) * 10.0, i + 1))
        .collect();
    let svg = chart.render();
    assert!(well_formed(&svg) > 2000);
    assert_eq!(polyline_points(&svg).len(), 10_000);
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[<>&\"' a-z/\u{0}-\u{1f}]{0,20}",
        Just("<script>alert(1)</script>".to_string()),
    ]
}

proptest! {
    #[test]
    fn any_labels_and_values_give_a_well_formed_chart(
        title in any_text(),
        labels in proptest::collection::vec(any_text(), 4),
        ys in proptest::collection::vec(proptest::num::f64::ANY, 0..12),
        doses in proptest::collection::vec(-100.0f64..100.0, 0..6),
        range in (proptest::num::f64::ANY, proptest::num::f64::ANY),
    ) {
        let mut chart = TrendChart::new(title, range);
        chart.points = ys
            .iter()
            .enumerate()
            .map(|(i, &y)| point(i as f64, y, Some(&labels[i % 4])))
            .collect();
        chart.markers = doses
            .iter()
            .map(|&x| DoseMarker { x, label: labels[1].clone() })
            .collect();
        chart.bands = vec![SeverityBand { label: labels[2].clone(), lo: 1.0, hi: 5.0 }];
        chart.reference = Some(ReferenceLine { y: 3.0, label: labels[3].clone() });
        chart.x_ticks = vec![XTick { x: 2.0, label: labels[0].clone() }];
        let svg = chart.render();
        prop_assert!(check(&svg).is_ok(), "{:?}\n{}", check(&svg), svg);
        prop_assert!(!svg.contains("<script"));
    }
}
