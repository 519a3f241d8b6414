//! Parameter importance: each parameter's share by PED-ANOVA, largest on top.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Ticked;
use super::{svg, StudyView, CAPTION, LABEL};
use crate::importance::ped_anova;

pub fn draw(view: &StudyView) -> Result<String> {
    let importances = ped_anova(&view.space, view.goal(), &view.trials)?;
    let n = importances.len();
    let height = (120 + 48 * n as u32).max(260);
    let caption = format!(
        "{}: parameter importance (PED-ANOVA, {} complete trials)",
        view.study.name,
        view.complete().len()
    );
    let names: Vec<String> = importances.iter().map(|(name, _)| name.clone()).collect();
    svg((900, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, CAPTION)
            .margin(14)
            .margin_right(40)
            .x_label_area_size(44)
            .y_label_area_size(150)
            .build_cartesian_2d(
                0.0..1.0,
                Ticked {
                    range: 0.0..n as f64,
                    ticks: (0..n).map(|i| i as f64 + 0.5).collect(),
                },
            )?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("share of the importance")
            .label_style(LABEL)
            .axis_desc_style(LABEL)
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            // The largest share on top.
            .y_label_formatter(&|y| {
                let row = (*y - 0.5).round() as usize;
                names.get(n.saturating_sub(row + 1)).cloned().unwrap_or_default()
            })
            .draw()?;
        let blue = RGBColor(31, 119, 180);
        let value_style = TextStyle::from(LABEL.into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, (_, share)) in importances.iter().enumerate() {
            let row = (n - 1 - i) as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, row + 0.15), (*share, row + 0.85)],
                blue.filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.1}%", share * 100.0),
                (share + 0.01, row + 0.5),
                value_style.clone(),
            )))?;
        }
        Ok(())
    })
}
