//! The seven-day activity chart: bars computed here, drawn as inline SVG by the template (no
//! JavaScript, nothing but numbers reaches the markup).

use crate::domain::AuditKind;
use crate::store::DayCount;

/// Days shown, today included.
pub const DAYS: i64 = 7;
const BAR_WIDTH: i64 = 14;
const GROUP_WIDTH: i64 = 44;
const PLOT_HEIGHT: i64 = 100;
const TOP: i64 = 10;

/// One bar, in SVG user units.
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    /// `signins` or `refreshes` (a CSS class).
    pub series: &'static str,
    pub count: i64,
}

/// One day's label under its bars.
pub struct DayLabel {
    pub x: i64,
    pub text: String,
}

pub struct Chart {
    pub bars: Vec<Bar>,
    pub labels: Vec<DayLabel>,
    pub width: i64,
    pub height: i64,
    pub baseline: i64,
    pub max: i64,
    pub signins: i64,
    pub refreshes: i64,
}

/// Lays out `counts` (days counted from `since`, the start of the first day shown).
pub fn chart(counts: &[DayCount], since: i64) -> Chart {
    let mut per_day = [[0i64; 2]; DAYS as usize];
    for c in counts {
        let Ok(day) = usize::try_from(c.day) else {
            continue;
        };
        let series = match AuditKind::parse(&c.kind) {
            Some(AuditKind::TokenIssued) => 0,
            Some(AuditKind::TokenRefreshed) => 1,
            _ => continue,
        };
        if let Some(slot) = per_day.get_mut(day) {
            slot[series] += c.count;
        }
    }
    let max = per_day.iter().flatten().copied().max().unwrap_or(0).max(1);
    let baseline = TOP + PLOT_HEIGHT;
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    for (day, values) in per_day.iter().enumerate() {
        let day_index = day as i64;
        let group_x = 8 + day_index * GROUP_WIDTH;
        for (i, (&count, series)) in values.iter().zip(["signins", "refreshes"]).enumerate() {
            let height = count * PLOT_HEIGHT / max;
            bars.push(Bar {
                x: group_x + i as i64 * (BAR_WIDTH + 2),
                y: baseline - height,
                height,
                series,
                count,
            });
        }
        let text = time::OffsetDateTime::from_unix_timestamp(since + day_index * 86_400)
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!("[month]-[day]"))
                    .ok()
            })
            .unwrap_or_default();
        labels.push(DayLabel {
            x: group_x + BAR_WIDTH,
            text,
        });
    }
    Chart {
        bars,
        labels,
        width: 16 + DAYS * GROUP_WIDTH,
        height: baseline + 22,
        baseline,
        max,
        signins: per_day.iter().map(|d| d[0]).sum(),
        refreshes: per_day.iter().map(|d| d[1]).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_ignore_what_is_out_of_range() {
        let counts = vec![
            DayCount {
                day: 0,
                kind: "token_issued".into(),
                count: 2,
            },
            DayCount {
                day: 6,
                kind: "token_refreshed".into(),
                count: 4,
            },
            DayCount {
                day: 7,
                kind: "token_issued".into(),
                count: 99,
            },
            DayCount {
                day: -1,
                kind: "token_issued".into(),
                count: 99,
            },
        ];
        let c = chart(&counts, 0);
        assert_eq!(c.bars.len(), 14);
        assert_eq!((c.signins, c.refreshes, c.max), (2, 4, 4));
        assert_eq!(c.bars[0].height, 50);
        assert_eq!(c.bars[13].height, 100);
        assert_eq!(c.bars[13].y, c.baseline - 100);
        assert_eq!(c.labels[0].text, "01-01");
    }
}
