//! Plain-text tables and number formats shared by every family's report.

use crate::stats::Summary;
use std::fmt::Write as _;

/// "median [min-max]" with two decimals.
pub(crate) fn format_range(summary: &Summary) -> String {
    format!(
        "{:.2} [{:.2}-{:.2}]",
        summary.median, summary.min, summary.max
    )
}

/// A table in the scheduler table's style: a header row, a rule, the first
/// `left` columns left-aligned and the others right-aligned.
pub(crate) fn format_table(rows: &[Vec<String>], left: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                if column < left {
                    format!("{cell:<width$}", width = widths[column])
                } else {
                    format!("{cell:>width$}", width = widths[column])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if index == 0 {
            let rule: usize = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
            let _ = writeln!(out, "{}", "-".repeat(rule));
        }
    }
    out
}
