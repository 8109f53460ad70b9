//! Self-contained SVG bar charts for reports (design §8: reports are
//! "JSON, Markdown, and self-contained SVG charts"). Bench reports write them as files; the audit
//! inlines them into its HTML, so the chart must not load anything (no
//! scripts, fonts or stylesheets from elsewhere).

use std::fmt::Write as _;

use crate::report::xml::escape_text;

/// One bar: a point estimate with its confidence interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label printed left of the bar.
    pub label: String,
    /// Point estimate (the bar's length).
    pub value: f64,
    /// Lower end of the interval (whisker), if known.
    pub lower: Option<f64>,
    /// Upper end of the interval (whisker), if known.
    pub upper: Option<f64>,
}

/// A vertical reference line across all bars (an anchor such as openssl).
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Legend text.
    pub label: String,
    /// Position on the value axis.
    pub value: f64,
}

/// A horizontal bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// Unit of the value axis, e.g. `MiB/s`.
    pub unit: String,
    /// Bars, drawn top to bottom.
    pub bars: Vec<Bar>,
    /// Optional reference lines.
    pub references: Vec<Reference>,
    /// Logarithmic value axis (for values spanning several orders of magnitude).
    pub log_scale: bool,
}

const LABEL_W: f64 = 260.0;
const PLOT_W: f64 = 560.0;
const VALUE_W: f64 = 120.0;
const ROW_H: f64 = 22.0;
const TOP: f64 = 48.0;
const PALETTE: [&str; 2] = ["#3b6ea5", "#c0504d"];
/// Whiskers: dark orange, visible on the bar and on white.
const WHISKER: &str = "#d35400";

impl BarChart {
    /// Renders the chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let width = LABEL_W + PLOT_W + VALUE_W;
        let height = TOP + ROW_H * self.bars.len().max(1) as f64 + 24.0 * (1 + self.references.len()) as f64 + 10.0;
        let max = self
            .bars
            .iter()
            .map(|b| b.upper.unwrap_or(b.value).max(b.value))
            .chain(self.references.iter().map(|r| r.value))
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let min_positive = self
            .bars
            .iter()
            .map(|b| b.lower.unwrap_or(b.value).min(b.value))
            .chain(self.references.iter().map(|r| r.value))
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold(max, f64::min);
        let (lo_exp, hi_exp) =
            (min_positive.log10().floor(), max.log10().ceil().max(min_positive.log10().floor() + 1.0));
        // A linear axis ends at a round number just above the largest value,
        // with round ticks (1, 2, 2.5 or 5 times a power of ten) up to it.
        let step = nice_step(max / 4.0);
        let axis_max = (max / step).ceil().max(1.0) * step;
        let x = |v: f64| -> f64 {
            let frac = if self.log_scale {
                if v <= 0.0 { 0.0 } else { ((v.log10() - lo_exp) / (hi_exp - lo_exp)).clamp(0.0, 1.0) }
            } else {
                (v / axis_max).clamp(0.0, 1.0)
            };
            LABEL_W + frac * PLOT_W
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(s, r#"<title>{}</title>"#, escape_text(&self.title));
        let _ = write!(s, r#"<rect width="{width}" height="{height}" fill="white"/>"#);
        let _ = write!(
            s,
            r##"<text x="10" y="20" font-size="15" font-weight="bold">{}</text><text x="10" y="38" fill="#555">{}{}</text>"##,
            escape_text(&self.title),
            escape_text(&self.unit),
            match (self.log_scale, self.bars.iter().any(|b| b.lower.is_some() && b.upper.is_some())) {
                (true, true) => " (log scale); whiskers: 95 % interval",
                (false, true) => "; whiskers: 95 % interval",
                (true, false) => " (log scale)",
                (false, false) => "",
            }
        );
        // Grid: round ticks on a linear axis, one per decade on a log axis.
        let ticks: Vec<f64> = if self.log_scale {
            (lo_exp as i32..=hi_exp as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            let n = (axis_max / step).round() as i32;
            (0..=n).map(|i| step * f64::from(i)).collect()
        };
        let plot_bottom = TOP + ROW_H * self.bars.len().max(1) as f64;
        for t in ticks {
            let tx = x(t);
            let _ = write!(
                s,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{plot_bottom:.1}" stroke="#ddd"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#777" font-size="10">{}</text>"##,
                TOP - 4.0,
                plot_bottom + 12.0,
                tick_label(t)
            );
        }
        for (i, b) in self.bars.iter().enumerate() {
            let y = TOP + ROW_H * i as f64;
            let bx = x(b.value);
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{LABEL_W}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"##,
                LABEL_W - 6.0,
                y + ROW_H * 0.68,
                escape_text(&b.label),
                y + 3.0,
                (bx - LABEL_W).max(0.5),
                ROW_H - 6.0,
                PALETTE[0]
            );
            if let (Some(lo), Some(hi)) = (b.lower, b.upper) {
                // The caps reach past the bar's edges, so an interval too
                // narrow to show as a line still shows as a mark.
                let (lx, hx, my) = (x(lo), x(hi), y + ROW_H / 2.0);
                let (top, bottom) = (y + 1.0, y + ROW_H - 1.0);
                let _ = write!(
                    s,
                    r##"<g stroke="{WHISKER}" stroke-width="1.5"><line x1="{lx:.1}" y1="{my:.1}" x2="{hx:.1}" y2="{my:.1}"/><line x1="{lx:.1}" y1="{top:.1}" x2="{lx:.1}" y2="{bottom:.1}"/><line x1="{hx:.1}" y1="{top:.1}" x2="{hx:.1}" y2="{bottom:.1}"/></g>"##
                );
            }
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
                LABEL_W + PLOT_W + 6.0,
                y + ROW_H * 0.68,
                short_number(b.value)
            );
        }
        for (i, r) in self.references.iter().enumerate() {
            let rx = x(r.value);
            let colour = PALETTE[1];
            let _ = write!(
                s,
                r#"<line x1="{rx:.1}" y1="{:.1}" x2="{rx:.1}" y2="{plot_bottom:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/>"#,
                TOP - 2.0
            );
            let ly = plot_bottom + 28.0 + 20.0 * i as f64;
            let _ = write!(
                s,
                r#"<line x1="{LABEL_W}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/><text x="{:.1}" y="{ly:.1}">{} = {} {}</text>"#,
                ly - 4.0,
                LABEL_W + 30.0,
                ly - 4.0,
                LABEL_W + 36.0,
                escape_text(&r.label),
                short_number(r.value),
                escape_text(&self.unit)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A round step near `raw`: 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let m = raw / power;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|n| *n >= m - 1e-9).unwrap_or(10.0);
    nice * power
}

/// `v` scaled to below a thousand, with its SI suffix.
fn si(v: f64) -> (f64, &'static str) {
    match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    }
}

/// An axis tick: a round number with an SI suffix and no trailing zeros
/// (`0`, `500`, `1k`, `2.5k`, `0.05`).
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return crate::report::table::number(v);
    }
    let (scaled, suffix) = si(v);
    let text = format!("{scaled:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{}{suffix}", if text == "-0" { "0" } else { text })
}

/// A chart label: [`crate::report::table::number`] with an SI suffix (1.23k, 4.56M),
/// so axis ticks and bar values stay short at any magnitude.
pub fn short_number(v: f64) -> String {
    if !v.is_finite() {
        return crate::report::table::number(v);
    }
    let (scaled, suffix) = si(v);
    format!("{}{suffix}", crate::report::table::number(scaled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(log_scale: bool) -> BarChart {
        BarChart {
            title: "t <&>".into(),
            unit: "MiB/s".into(),
            bars: vec![
                Bar { label: "a".into(), value: 100.0, lower: Some(90.0), upper: Some(110.0) },
                Bar { label: "b\"".into(), value: 2000.0, lower: None, upper: None },
            ],
            references: vec![Reference { label: "openssl".into(), value: 1500.0 }],
            log_scale,
        }
    }

    #[test]
    fn svg_is_escaped_and_has_one_rect_per_bar() {
        for log in [false, true] {
            let svg = chart(log).to_svg();
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert!(svg.ends_with("</svg>\n"));
            assert!(svg.contains("t &lt;&amp;&gt;") && !svg.contains("t <&>"));
            assert!(svg.contains("b&quot;"));
            // background + two bars
            assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
            assert!(svg.contains("openssl = 1.50k MiB/s"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"));
        }
    }

    #[test]
    fn bars_scale_with_their_values() {
        let svg = chart(false).to_svg();
        let widths: Vec<f64> = svg
            .split("<rect x=\"260\"")
            .skip(1)
            .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(widths.len(), 2);
        assert!((widths[1] / widths[0] - 20.0).abs() < 0.1, "{widths:?}");
    }

    #[test]
    fn empty_and_degenerate_charts_render() {
        let mut c = chart(true);
        c.bars.clear();
        c.references.clear();
        assert!(c.to_svg().ends_with("</svg>\n"));
        c.bars.push(Bar { label: "zero".into(), value: 0.0, lower: Some(0.0), upper: Some(0.0) });
        let svg = c.to_svg();
        assert!(!svg.contains("NaN"), "{svg}");
    }

    #[test]
    fn linear_ticks_are_round_and_reach_past_the_largest_value() {
        let svg = chart(false).to_svg();
        // Largest value 2000 (bar b): ticks every 500 up to 2000.
        let ticks: Vec<&str> = svg.split("font-size=\"10\">").skip(1).filter_map(|t| t.split('<').next()).collect();
        assert_eq!(ticks, ["0", "500", "1k", "1.5k", "2k"], "{svg}");
        for (raw, nice) in [(0.9, 1.0), (1.1, 2.0), (2.1, 2.5), (2.6, 5.0), (5.1, 10.0), (2763.0, 5000.0), (0.03, 0.05)]
        {
            assert!((nice_step(raw) - nice).abs() < 1e-12, "{raw} -> {}", nice_step(raw));
        }
    }

    #[test]
    fn whiskers_are_drawn_where_claimed_and_claimed_only_where_drawn() {
        let svg = chart(false).to_svg();
        assert!(svg.contains("whiskers: 95 % interval"));
        // One bar has an interval: one whisker group of three lines, with
        // caps taller than the bar.
        assert_eq!(svg.matches(&format!("<g stroke=\"{WHISKER}\"")).count(), 1, "{svg}");
        let mut none = chart(false);
        for b in &mut none.bars {
            (b.lower, b.upper) = (None, None);
        }
        let svg = none.to_svg();
        assert!(!svg.contains("whiskers") && !svg.contains(WHISKER), "{svg}");
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(3_428_016_872.0), "3.43G");
        assert_eq!(short_number(79.4), "79.4");
        assert_eq!(short_number(1234.0), "1.23k");
        assert_eq!(short_number(f64::NAN), "n/a");
    }
}
