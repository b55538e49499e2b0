//! The on-call report as one HTML file (inline CSS and SVG charts, no script, nothing
//! fetched): the figures of `oncall::figures`, with trends against the period before.

use std::fmt::Write as _;

use super::html::{STYLE, escape};
use crate::oncall::figures::{Count, Figures, Spread, Summary};

const EXTRA_STYLE: &str = "
.up{color:#b42318}.down{color:#067647}.chart rect.high{fill:#e5484d}.chart rect.low{fill:#f5a524}
.chart rect.digest{fill:#7aa2f7}.chart rect.shift{fill:#5b7bd5}.chart rect.shift.ooh{fill:#8e4ec6}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}
.note{background:#fff8e6;border:1px solid #f5d08a;border-radius:8px;padding:8px 12px}
";

/// The report's HTML.
pub fn render(figures: &Figures, title: &str) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}{EXTRA_STYLE}</style></head><body><main>",
        escape(title)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"muted\">{} to {} ({}); compared with the {} before.</p>",
        escape(title),
        escape(&time(figures.from)),
        escape(&time(figures.to)),
        escape(&figures.timezone),
        length(figures.to - figures.from),
    );
    if !figures.feedback {
        out.push_str(
            "<p class=\"note\">No responder feedback in this period (PagerDuty's webhook is not set up, or this is a \
             replay): \"acted on\" and acknowledgement times are unknown; times to resolve come from the alerts.</p>",
        );
    }
    cards(&mut out, &figures.summary, &figures.previous);
    out.push_str("<h2>Pages per day</h2>");
    days_chart(&mut out, figures);
    out.push_str("<h2>Pages per shift</h2>");
    shifts_chart(&mut out, figures);
    out.push_str("<h2>What pages for nothing</h2>");
    if figures.noisy.is_empty() {
        out.push_str("<p class=\"muted\">Every page was acted on.</p>");
    } else {
        out.push_str(
            "<table><tr><th>Alert kind</th><th>Pages</th><th>Noise</th><th>Over within 10 min</th><th>Flapping</th><th>What would have kept it off the pager</th></tr>",
        );
        for noisy in &figures.noisy {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&noisy.kind),
                noisy.pages,
                noisy.never_acted,
                noisy.resolved_unacknowledged,
                noisy.flapping,
                escape(&noisy.suggestion)
            );
        }
        out.push_str("</table>");
    }
    counts(&mut out, "Paged again and again", "Alert kinds", &figures.recurring);
    counts(&mut out, "Pages per team", "Routing key", &figures.teams);
    counts(&mut out, "Pages per service", "Service or node", &figures.services);
    out.push_str("</main></body></html>\n");
    out
}

/// A period's length, in days when it is a day or more.
fn length(millis: i64) -> String {
    let hours = millis as f64 / 3_600_000.0;
    if hours >= 24.0 { format!("{:.0} days", hours / 24.0) } else { format!("{hours:.0} hours") }
}

fn time(at: i64) -> String {
    jiff::Timestamp::from_millisecond(at).map_or_else(|_| at.to_string(), |time| time.to_string())
}

fn cards(out: &mut String, now: &Summary, before: &Summary) {
    out.push_str("<div class=\"cards\">");
    // No incident before (a replay, a new instance): nothing to compare with.
    let compared = before.incidents > 0;
    let percent =
        |ratio: Option<f64>| ratio.map_or("–".to_owned(), |ratio| format!("{:.0}%", ratio * 100.0));
    let minutes = |spread: Option<Spread>, pick: fn(&Spread) -> f64| {
        spread.map_or("–".to_owned(), |spread| format!("{:.1} min", pick(&spread) / 60.0))
    };
    let rows: [(&str, String, String, Option<bool>); 8] = [
        (
            "pages",
            now.pages.to_string(),
            before.pages.to_string(),
            trend(now.pages as f64, before.pages as f64),
        ),
        (
            "acted on",
            percent(now.actionable),
            percent(before.actionable),
            now.actionable.zip(before.actionable).and_then(|(now, before)| trend(before, now)),
        ),
        (
            "never acknowledged",
            now.never_acknowledged.to_string(),
            before.never_acknowledged.to_string(),
            trend(now.never_acknowledged as f64, before.never_acknowledged as f64),
        ),
        (
            "out of hours",
            now.out_of_hours.to_string(),
            before.out_of_hours.to_string(),
            trend(now.out_of_hours as f64, before.out_of_hours as f64),
        ),
        (
            "worst shift",
            format!("{} pages", now.worst_shift_pages),
            format!("{} pages", before.worst_shift_pages),
            trend(now.worst_shift_pages as f64, before.worst_shift_pages as f64),
        ),
        (
            "MTTA median",
            minutes(now.mtta, |spread| spread.median),
            minutes(before.mtta, |spread| spread.median),
            None,
        ),
        ("MTTA p90", minutes(now.mtta, |spread| spread.p90), minutes(before.mtta, |spread| spread.p90), None),
        (
            "MTTR median",
            minutes(now.mttr, |spread| spread.median),
            minutes(before.mttr, |spread| spread.median),
            None,
        ),
    ];
    for (name, value, previous, worse) in rows {
        let (previous, worse) = if compared { (previous, worse) } else { ("–".to_owned(), None) };
        let arrow = match worse {
            Some(true) => "<span class=\"up\">▲</span> ",
            Some(false) => "<span class=\"down\">▼</span> ",
            None => "",
        };
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b><span>{} · {arrow}before: {}</span></div>",
            escape(&value),
            escape(name),
            escape(&previous)
        );
    }
    out.push_str("</div>");
}

/// Whether a figure where less is better got worse (`Some(true)`), better, or stayed.
fn trend(now: f64, before: f64) -> Option<bool> {
    (now != before).then_some(now > before)
}

/// Stacked bars of pages per day: high, low, and digest items.
fn days_chart(out: &mut String, figures: &Figures) {
    if figures.days.is_empty() {
        out.push_str("<p class=\"muted\">No incidents in this period.</p>");
        return;
    }
    let max =
        figures.days.iter().map(|day| day.page_high + day.page_low + day.digest).max().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (1040.0, 180.0, 30.0, 24.0);
    let slot = (width - left) / figures.days.len() as f64;
    let scale = (height - bottom - 10.0) / max as f64;
    let _ = write!(
        out,
        "<svg class=\"chart days\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\">"
    );
    let _ = write!(out, "<text x=\"0\" y=\"12\">{max}</text>");
    for (index, day) in figures.days.iter().enumerate() {
        let x = left + index as f64 * slot + slot * 0.15;
        let mut y = height - bottom;
        for (class, count) in [("high", day.page_high), ("low", day.page_low), ("digest", day.digest)] {
            if count == 0 {
                continue;
            }
            let bar = count as f64 * scale;
            y -= bar;
            let _ = write!(
                out,
                "<rect class=\"mark {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar:.1}\"><title>{} {class}: {count}</title></rect>",
                slot * 0.7,
                escape(&day.day)
            );
        }
        if figures.days.len() <= 31 || index % 7 == 0 {
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                height - 6.0,
                escape(day.day.get(5..).unwrap_or(&day.day))
            );
        }
    }
    out.push_str("</svg><div class=\"legend muted\"><span style=\"background:#e5484d\"></span>high urgency<span style=\"background:#f5a524\"></span>low urgency<span style=\"background:#7aa2f7\"></span>digest</div>");
}

/// A bar per shift: its pages, the out-of-hours share darker.
fn shifts_chart(out: &mut String, figures: &Figures) {
    if figures.shifts.is_empty() {
        out.push_str("<p class=\"muted\">No shift in this period.</p>");
        return;
    }
    let max = figures.shifts.iter().map(|shift| shift.pages).max().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (1040.0, 160.0, 30.0, 24.0);
    let slot = (width - left) / figures.shifts.len() as f64;
    let scale = (height - bottom - 10.0) / max as f64;
    let _ = write!(
        out,
        "<svg class=\"chart shifts\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\">"
    );
    let _ = write!(out, "<text x=\"0\" y=\"12\">{max}</text>");
    for (index, shift) in figures.shifts.iter().enumerate() {
        let x = left + index as f64 * slot + slot * 0.15;
        for (class, count, base) in [
            ("shift", shift.pages - shift.out_of_hours, shift.out_of_hours),
            ("shift ooh", shift.out_of_hours, 0),
        ] {
            if count == 0 {
                continue;
            }
            let bar = count as f64 * scale;
            let y = height - bottom - (base as f64 * scale) - bar;
            let _ = write!(
                out,
                "<rect class=\"mark {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar:.1}\"><title>shift from {}: {count}</title></rect>",
                slot * 0.7,
                escape(&shift.label)
            );
        }
        if figures.shifts.len() <= 31 || index % 7 == 0 {
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                height - 6.0,
                escape(shift.label.get(5..10).unwrap_or(&shift.label))
            );
        }
    }
    let worst = figures.shifts.iter().max_by_key(|shift| shift.pages);
    out.push_str("</svg><div class=\"legend muted\"><span style=\"background:#5b7bd5\"></span>in business hours<span style=\"background:#8e4ec6\"></span>out of hours");
    if let Some(worst) = worst.filter(|shift| shift.pages > 0) {
        let _ = write!(
            out,
            " · worst: the shift from {} ({} pages, {:.0} h)",
            escape(&worst.label),
            worst.pages,
            worst.hours
        );
    }
    out.push_str("</div>");
}

fn counts(out: &mut String, title: &str, what: &str, counts: &[Count]) {
    let _ = write!(out, "<h2>{}</h2>", escape(title));
    if counts.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>");
        return;
    }
    let max = counts.iter().map(|count| count.pages).max().unwrap_or(1).max(1);
    let _ = write!(out, "<table><tr><th>{}</th><th>Pages</th><th></th></tr>", escape(what));
    for count in counts {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td><span class=\"bar\" style=\"width:{}px\"></span></td></tr>",
            escape(&count.name),
            count.pages,
            count.pages * 200 / max
        );
    }
    out.push_str("</table>");
}
