//! The on-call report as one HTML file (inline CSS and SVG charts, no script, nothing
//! fetched): the figures of `oncall::figures`, with trends against the period before.

use std::fmt::Write as _;

use super::html::{STYLE, escape};
use crate::oncall::figures::{Count, Day, Figures, Spread, Summary};

const EXTRA_STYLE: &str = "
.up{color:#b42318}.down{color:#067647}.chart rect.high{fill:#e5484d}.chart rect.low{fill:#f5a524}
.chart rect.digest{fill:#7aa2f7}.chart rect.shift{fill:#5b7bd5}.chart rect.shift.ooh{fill:#8e4ec6}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}
.note{background:#fff8e6;border:1px solid #f5d08a;border-radius:8px;padding:8px 12px}
.chart line.plain{stroke:#222;stroke-width:2}.chart polyline{fill:none;stroke-width:2}
.chart .mtta{stroke:#0b7285;fill:#0b7285}.chart .mttr{stroke:#a61e4d;fill:#a61e4d}
.without{font-size:1.05em}
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
    without(&mut out, &figures.summary);
    cards(&mut out, &figures.summary, &figures.previous);
    out.push_str("<h2>Pages per day</h2>");
    days_chart(&mut out, figures);
    out.push_str("<h2>Pages per shift</h2>");
    shifts_chart(&mut out, figures);
    out.push_str("<h2>Time to acknowledge and to resolve</h2>");
    times_chart(&mut out, figures);
    alerts_table(&mut out, &figures.summary);
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

/// What a plain route would have paged, against what noisegate paged.
fn without(out: &mut String, summary: &Summary) {
    let Some(plain) = summary.without_noisegate else { return };
    let critical = summary.without_noisegate_critical.unwrap_or(0);
    let spared = |plain: u64| {
        let pages = summary.pages as u64;
        if plain > pages {
            format!("{} fewer", plain - pages)
        } else if plain < pages {
            format!("{} more", pages - plain)
        } else {
            "as many".to_owned()
        }
    };
    let pages = |count: u64| if count == 1 { "1 page".to_owned() } else { format!("{count} pages") };
    let _ = write!(
        out,
        "<p class=\"without\">Without noisegate, a plain Alertmanager route with the same routes, <code>group_by</code> \
         and silences would have sent <b>{}</b> ({} if only critical alerts paged). noisegate sent <b>{}</b>: {} \
         ({} against critical only).</p>",
        pages(plain),
        pages(critical),
        pages(summary.pages as u64),
        spared(plain),
        spared(critical)
    );
}

/// What came in and what became of it.
fn alerts_table(out: &mut String, summary: &Summary) {
    let alerts = &summary.alerts;
    if alerts.received == 0 {
        return;
    }
    out.push_str("<h2>What came in, and what became of it</h2><table><tr><th></th><th>Alerts</th><th>What is counted</th></tr>");
    for (name, count, meaning) in [
        (
            "received",
            alerts.received,
            "alert sends for the period's incidents: firing, sent again, resolving",
        ),
        ("deduplicated", alerts.deduplicated, "sends of an alert already held (re-sends, HA pairs)"),
        ("episodes", alerts.alerts, "alerts, each time they started firing"),
        ("grouped", summary.grouped, "episodes that joined an incident another had opened"),
        ("settled", alerts.settled, "over before their settle time or the group's wait, never paged"),
        ("silenced", alerts.silenced, "ended while a silence muted them"),
        ("inhibited", alerts.inhibited, "ended while an inhibition muted them"),
        ("known noise", alerts.known_noise, "ended while a known-noise pattern or catalog class muted them"),
        ("digested", alerts.digested, "in an incident whose score sent it to the digest"),
        ("suppressed", alerts.suppressed, "in an incident whose score told no one"),
    ] {
        let _ = write!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{count}</td><td class=\"muted\">{meaning}</td></tr>"
        );
    }
    let _ = write!(
        out,
        "<tr><td>incidents</td><td class=\"n\">{}</td><td class=\"muted\">of which paged: {}</td></tr></table>",
        summary.incidents, summary.pages
    );
}

/// A period's length, in days when it is a day or more.
fn length(millis: i64) -> String {
    let hours = millis as f64 / crate::clock::HOUR_MS as f64;
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

/// A chart's frame: `count` slots across the width, values up to `max` up its height.
struct Frame {
    height: f64,
    left: f64,
    slot: f64,
    scale: f64,
    count: usize,
}

const CHART_WIDTH: f64 = 1040.0;
/// Room for the slots' labels under the bars.
const CHART_BOTTOM: f64 = 24.0;

impl Frame {
    /// Opens the chart's SVG (class `chart {class}`), its top value written at the left.
    fn open(
        out: &mut String,
        class: &str,
        height: f64,
        left: f64,
        count: usize,
        max: f64,
        top: &str,
    ) -> Frame {
        let _ = write!(
            out,
            "<svg class=\"chart {class}\" viewBox=\"0 0 {CHART_WIDTH} {height}\" width=\"100%\" role=\"img\"><text x=\"0\" y=\"12\">{}</text>",
            escape(top)
        );
        let slot = (CHART_WIDTH - left) / count.max(1) as f64;
        Frame { height, left, slot, scale: (height - CHART_BOTTOM - 10.0) / max, count }
    }

    /// Where the bar of slot `index` starts, and how wide it is.
    fn bar(&self, index: usize) -> (f64, f64) {
        (self.left + index as f64 * self.slot + self.slot * 0.15, self.slot * 0.7)
    }

    /// The middle of slot `index`.
    fn middle(&self, index: usize) -> f64 {
        self.left + (index as f64 + 0.5) * self.slot
    }

    /// The height of `value`, from the base line up.
    fn up(&self, value: f64) -> f64 {
        value * self.scale
    }

    /// The base line.
    fn base(&self) -> f64 {
        self.height - CHART_BOTTOM
    }

    /// Slot `index`'s label under it: every slot's up to a month of them, else every seventh.
    fn label(&self, out: &mut String, index: usize, text: &str) {
        if self.count <= 31 || index % 7 == 0 {
            let (x, _) = self.bar(index);
            let _ = write!(out, "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>", self.height - 6.0, escape(text));
        }
    }
}

/// Stacked bars of pages per day: high, low, and digest items; a line where a plain route
/// would have paged.
fn days_chart(out: &mut String, figures: &Figures) {
    if figures.days.is_empty() {
        out.push_str("<p class=\"muted\">No incidents in this period.</p>");
        return;
    }
    let max = figures
        .days
        .iter()
        .map(|day| (day.page_high + day.page_low + day.digest).max(day.without_noisegate as usize))
        .max()
        .unwrap_or(0)
        .max(1);
    let frame = Frame::open(out, "days", 180.0, 30.0, figures.days.len(), max as f64, &max.to_string());
    for (index, day) in figures.days.iter().enumerate() {
        let (x, width) = frame.bar(index);
        let mut y = frame.base();
        for (class, count) in [("high", day.page_high), ("low", day.page_low), ("digest", day.digest)] {
            if count == 0 {
                continue;
            }
            let bar = frame.up(count as f64);
            y -= bar;
            let _ = write!(
                out,
                "<rect class=\"mark {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{bar:.1}\"><title>{} {class}: {count}</title></rect>",
                escape(&day.day)
            );
        }
        if day.without_noisegate > 0 {
            let y = frame.base() - frame.up(day.without_noisegate as f64);
            let _ = write!(
                out,
                "<line class=\"plain\" x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"><title>{} without noisegate: {}</title></line>",
                x + width,
                escape(&day.day),
                day.without_noisegate
            );
        }
        frame.label(out, index, day.day.get(5..).unwrap_or(&day.day));
    }
    out.push_str("</svg><div class=\"legend muted\"><span style=\"background:#e5484d\"></span>high urgency<span style=\"background:#f5a524\"></span>low urgency<span style=\"background:#7aa2f7\"></span>digest<span style=\"background:#222;height:2px\"></span>pages a plain route would have sent</div>");
}

/// A bar per shift: its pages, the out-of-hours share darker.
fn shifts_chart(out: &mut String, figures: &Figures) {
    if figures.shifts.is_empty() {
        out.push_str("<p class=\"muted\">No shift in this period.</p>");
        return;
    }
    let max = figures.shifts.iter().map(|shift| shift.pages).max().unwrap_or(0).max(1);
    let frame = Frame::open(out, "shifts", 160.0, 30.0, figures.shifts.len(), max as f64, &max.to_string());
    for (index, shift) in figures.shifts.iter().enumerate() {
        let (x, width) = frame.bar(index);
        for (class, count, below) in [
            ("shift", shift.pages - shift.out_of_hours, shift.out_of_hours),
            ("shift ooh", shift.out_of_hours, 0),
        ] {
            if count == 0 {
                continue;
            }
            let bar = frame.up(count as f64);
            let y = frame.base() - frame.up(below as f64) - bar;
            let _ = write!(
                out,
                "<rect class=\"mark {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{bar:.1}\"><title>shift from {}: {count}</title></rect>",
                escape(&shift.label)
            );
        }
        frame.label(out, index, shift.label.get(5..10).unwrap_or(&shift.label));
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

/// The daily medians of time to acknowledge and to resolve, as two lines with a point per
/// day that has a value.
fn times_chart(out: &mut String, figures: &Figures) {
    let max = figures
        .days
        .iter()
        .flat_map(|day| [day.mtta_median, day.mttr_median])
        .flatten()
        .fold(0.0_f64, f64::max);
    if max <= 0.0 {
        out.push_str("<p class=\"muted\">No page was acknowledged or resolved in this period.</p>");
        return;
    }
    let top = format!("{:.0} min", max / 60.0);
    let frame = Frame::open(out, "times", 160.0, 50.0, figures.days.len(), max, &top);
    for (class, pick) in
        [("mtta", (|day: &Day| day.mtta_median) as fn(&Day) -> Option<f64>), ("mttr", |day| day.mttr_median)]
    {
        let points: Vec<(f64, f64, f64, &str)> = figures
            .days
            .iter()
            .enumerate()
            .filter_map(|(index, day)| {
                let value = pick(day)?;
                Some((frame.middle(index), frame.base() - frame.up(value), value, day.day.as_str()))
            })
            .collect();
        let line: Vec<String> = points.iter().map(|(x, y, _, _)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(out, "<polyline class=\"{class}\" points=\"{}\"></polyline>", line.join(" "));
        for (x, y, value, day) in points {
            let _ = write!(
                out,
                "<circle class=\"mark {class}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{} {}: {:.1} min</title></circle>",
                escape(day),
                if class == "mtta" { "median time to acknowledge" } else { "median time to resolve" },
                value / 60.0
            );
        }
    }
    out.push_str("</svg><div class=\"legend muted\"><span style=\"background:#0b7285\"></span>median time to acknowledge<span style=\"background:#a61e4d\"></span>median time to resolve (per day of page)</div>");
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
