//! One SVG chart per workload (plotters' SVG backend only: text is written
//! as SVG `<text>` and laid out with plotters' built-in size estimate, so no
//! system font library is needed).
//!
//! Left panel: the workload's headline figure (CPU per operation for most,
//! the plain connections' p99 for the skewed ones, RSS for idle
//! connections) by profile, a bar at the median with a line over the
//! rounds' min–max, and the median ratio to the baseline written after it.
//! Right panel: the workload's second figure (latency p99, a rate, RSS per
//! connection) per round, as points.
//! `n/a` rows are named with "n/a" where the bar would be.

use super::report::WorkloadSummary;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::io;
use std::path::Path;

const BAR: RGBColor = RGBColor(70, 110, 170);
const BASELINE_BAR: RGBColor = RGBColor(150, 150, 150);
const POINT: RGBColor = RGBColor(200, 60, 40);

/// Per round, the right panel's figure of one row.
pub type SecondFigure = Vec<Vec<f64>>;

/// Writes `summary`'s chart to `path`. `second` holds, per row, the right
/// panel's per-round values (p99 us, or conns/s) and `second_name` names
/// them.
pub fn write(
    summary: &WorkloadSummary,
    baseline: &str,
    second: &SecondFigure,
    second_name: &str,
    path: &Path,
) -> io::Result<()> {
    draw(summary, baseline, second, second_name, path)
        .map_err(|err| io::Error::other(format!("chart {}: {err}", path.display())))
}

fn draw(
    summary: &WorkloadSummary,
    baseline: &str,
    second: &SecondFigure,
    second_name: &str,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let rows = summary.rows.len();
    // One segment per row, from 0 (the bottom row) to `last`.
    let last = rows.saturating_sub(1) as i32;
    let height = 90 + 26 * rows as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(620);
    // Row `index` of the table is drawn at the top: segment `rows - 1 - index`.
    let segment = |index: usize| (rows - 1 - index) as i32;
    let name_of = |value: &SegmentValue<i32>| match value {
        SegmentValue::CenterOf(segment) if (0..rows as i32).contains(segment) => {
            summary.rows[rows - 1 - *segment as usize].profile.clone()
        }
        _ => String::new(),
    };

    let top = summary
        .rows
        .iter()
        .filter_map(|row| row.headline.map(|s| s.max))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!(
                "{}: {} (bar median, line min-max), ratio to {baseline}",
                summary.workload, summary.headline
            ),
            ("sans-serif", 14),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..top * 1.35, (0..last).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .x_labels(6)
        .y_labels(rows)
        .y_label_formatter(&name_of)
        .x_desc(summary.headline.as_str())
        .draw()?;
    for (index, row) in summary.rows.iter().enumerate() {
        let at = segment(index);
        let Some(value) = row.headline else {
            chart.draw_series(std::iter::once(Text::new(
                "n/a (see the table)".to_owned(),
                (top * 0.02, SegmentValue::CenterOf(at)),
                ("sans-serif", 12).into_font().color(&POINT),
            )))?;
            continue;
        };
        let color = if row.profile == baseline {
            BASELINE_BAR
        } else {
            BAR
        };
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(at)),
                (value.median, SegmentValue::Exact(at + 1)),
            ],
            color.mix(0.75).filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        chart.draw_series(std::iter::once(bar))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![
                (value.min, SegmentValue::CenterOf(at)),
                (value.max, SegmentValue::CenterOf(at)),
            ],
            BLACK.stroke_width(2),
        )))?;
        let label = match row.ratio {
            Some(ratio) => format!("{:.2}  x{:.2}", value.median, ratio.median),
            None => format!("{:.2}", value.median),
        };
        chart.draw_series(std::iter::once(Text::new(
            label,
            (value.max + top * 0.02, SegmentValue::CenterOf(at)),
            ("sans-serif", 12),
        )))?;
    }

    let second_max = second
        .iter()
        .flatten()
        .copied()
        .filter(|value| value.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let mut chart = ChartBuilder::on(&right)
        .caption(
            format!("{second_name}, one point per round"),
            ("sans-serif", 14),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..second_max * 1.1, (0..last).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(rows)
        .y_label_formatter(&|_| String::new())
        .x_labels(4)
        .x_desc(second_name)
        .draw()?;
    for (index, values) in second.iter().enumerate() {
        let at = segment(index);
        chart.draw_series(
            values
                .iter()
                .filter(|value| value.is_finite())
                .map(|&value| Circle::new((value, SegmentValue::CenterOf(at)), 4, POINT.filled())),
        )?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write;
    use crate::iobench::loopback::Mode;
    use crate::matrix::report::{Figure, RowSummary, WorkloadSummary};
    use crate::stats::Summary;

    fn row(profile: &str, cpu: Option<f64>) -> RowSummary {
        let summary = cpu.map(|cpu| Summary {
            median: cpu,
            min: cpu * 0.9,
            max: cpu * 1.1,
        });
        RowSummary {
            profile: profile.to_owned(),
            rounds_measured: usize::from(cpu.is_some()),
            not_available: cpu.is_none().then(|| "EINVAL: refused".to_owned()),
            cpu_us_per_op: summary,
            ops_per_sec: None,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            ratio_per_round: vec![cpu.map(|cpu| cpu / 10.0)],
            ratio: cpu.map(|cpu| Summary {
                median: cpu / 10.0,
                min: cpu / 10.0,
                max: cpu / 10.0,
            }),
            ratio_fast: None,
            headline: summary,
            columns: Vec::new(),
            references: Vec::new(),
            note: None,
        }
    }

    #[test]
    fn a_chart_names_every_row_and_marks_na_rows() {
        let summary = WorkloadSummary {
            workload: "echo_64".to_owned(),
            size: String::new(),
            cpu_unit: "CPU us/msg".to_owned(),
            rate_unit: "msgs/s".to_owned(),
            has_latency: true,
            headline: "CPU us/msg".to_owned(),
            references: Vec::new(),
            columns: Vec::new(),
            second: (Figure::P99, "p99 latency, us".to_owned()),
            round_modes: vec![Mode::Slow],
            rows: vec![
                row("epoll", Some(10.0)),
                row("uring-defer", Some(8.0)),
                row("uring-bufring", None),
            ],
        };
        let dir = std::env::temp_dir().join(format!("ringwork-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("echo_64.svg");
        let p99 = vec![vec![200.0], vec![150.0], vec![]];
        write(&summary, "epoll", &p99, "p99 latency, us", &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in ["epoll", "uring-defer", "uring-bufring", "n/a", "x0.80"] {
            assert!(svg.contains(text), "{text} missing");
        }
    }
}
