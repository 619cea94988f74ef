//! Pictures of a prediction, drawn with `plotters` into PNG files (written atomically):
//! `plddt.png` (per-residue pLDDT of every model over AlphaFold's confidence bands), `pae.png` (the
//! predicted aligned error of the top-ranked model as a heat map) and `coverage.png` (the MSA: rows sorted
//! by identity to the query, coloured by it, with the per-position coverage drawn over them).
//!
//! Text uses DejaVu Sans, embedded in the binary (`assets/fonts/`), so the plots need no system fonts.

use std::path::Path;
use std::sync::Once;

use ndarray::{Array2, ArrayView2};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
static FONT_ONCE: Once = Once::new();

fn ensure_font() {
    FONT_ONCE.call_once(|| {
        // The font is compiled in; failing to parse it would be a build defect.
        if register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            tracing::warn!(
                "the embedded plot font could not be parsed; plot labels may be missing"
            );
        }
    });
}

/// The gap code of the HHblits alphabet (`-`).
const GAP: i32 = 21;

/// AlphaFold DB's pLDDT bands: lower bound, colour, label.
const PLDDT_BANDS: [(f64, RGBColor, &str); 4] = [
    (90.0, RGBColor(0x00, 0x53, 0xD6), "Very high (pLDDT > 90)"),
    (
        70.0,
        RGBColor(0x65, 0xCB, 0xF3),
        "Confident (90 > pLDDT > 70)",
    ),
    (50.0, RGBColor(0xFF, 0xDB, 0x13), "Low (70 > pLDDT > 50)"),
    (0.0, RGBColor(0xFF, 0x7D, 0x45), "Very low (pLDDT < 50)"),
];

/// Line colours of successive models.
const SERIES: [RGBColor; 6] = [
    RGBColor(0x11, 0x11, 0x11),
    RGBColor(0xC0, 0x39, 0x2B),
    RGBColor(0x27, 0x6F, 0xBF),
    RGBColor(0x1E, 0x8C, 0x4E),
    RGBColor(0x8E, 0x44, 0xAD),
    RGBColor(0x7F, 0x5A, 0x12),
];

type PlotResult = Result<(), String>;

fn draw_err(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

/// Renders `draw` on a white `w`×`h` canvas and writes it as PNG to `path`, atomically.
fn render(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> PlotResult,
) -> PlotResult {
    ensure_font();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| e.to_string())?;
        wr.write_image_data(&buf).map_err(|e| e.to_string())?;
    }
    crate::fsutil::atomic::write_bytes(path, &png_bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Linear interpolation between colours at `t` ∈ [0, 1].
fn lerp(stops: &[(f64, RGBColor)], t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    for w in stops.windows(2) {
        let ((t0, a), (t1, b)) = (w[0], w[1]);
        if t <= t1 {
            let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
            let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
            return RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2));
        }
    }
    stops.last().map(|s| s.1).unwrap_or(BLACK)
}

type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart over `x` × `y` (a reversed range flips the axis) with room for tick labels.
fn chart<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    title_size: u32,
    y_label_width: u32,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>, String> {
    ChartBuilder::on(area)
        .caption(title, ("sans-serif", title_size))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(y_label_width)
        .build_cartesian_2d(x, y)
        .map_err(draw_err)
}

/// Axes with integer tick labels and descriptions; grid lines only with `grid` (and then only the bold ones).
fn axes(chart: &mut Chart, x_desc: &str, y_desc: &str, grid: bool) -> PlotResult {
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17));
    if grid {
        mesh.light_line_style(WHITE.mix(0.0));
    } else {
        mesh.disable_mesh();
    }
    mesh.draw().map_err(draw_err)
}

/// The series' legend in a framed box at `position`.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> PlotResult {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(draw_err)
}

/// PAE colours: dark green (confident, 0 Å) to white (max), as the AlphaFold DB shows it.
const PAE_STOPS: [(f64, RGBColor); 3] = [
    (0.0, RGBColor(0x00, 0x44, 0x1B)),
    (0.5, RGBColor(0x74, 0xC4, 0x76)),
    (1.0, RGBColor(0xF7, 0xFC, 0xF5)),
];

/// Identity colours: red (unrelated) through yellow and green to blue/purple (identical).
const IDENTITY_STOPS: [(f64, RGBColor); 5] = [
    (0.0, RGBColor(0xD7, 0x19, 0x1C)),
    (0.25, RGBColor(0xFD, 0xAE, 0x61)),
    (0.5, RGBColor(0xA6, 0xD9, 0x6A)),
    (0.75, RGBColor(0x2B, 0x83, 0xBA)),
    (1.0, RGBColor(0x5E, 0x3C, 0x99)),
];

/// Per-residue pLDDT of one or more models (`(name, values)`), over the confidence bands.
pub(crate) fn plddt_png(path: &Path, title: &str, series: &[(String, Vec<f32>)]) -> PlotResult {
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(1);
    render(path, (1000, 520), |root| {
        let mut chart = chart(root, title, 22, 55, 1f64..n as f64, 0f64..100f64)?;
        for (k, &(lo, colour, label)) in PLDDT_BANDS.iter().enumerate() {
            let hi = if k == 0 { 100.0 } else { PLDDT_BANDS[k - 1].0 };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(1.0, lo), (n as f64, hi)],
                    colour.mix(0.25).filled(),
                )))
                .map_err(draw_err)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled())
                });
        }
        axes(&mut chart, "Residue", "Predicted LDDT", true)?;
        for (k, (name, v)) in series.iter().enumerate() {
            let colour = SERIES[k % SERIES.len()];
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
            chart
                .draw_series(LineSeries::new(
                    v.iter()
                        .enumerate()
                        .map(|(i, &y)| ((i + 1) as f64, y as f64)),
                    colour.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(format!("{name} (mean {mean:.1})"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(3))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Draws `colour_of(row, col)` over pixel rows `top..area height` of the plotting area,
/// nearest-neighbour sampled from a `rows`×`cols` grid (row 0 at the top).
fn raster<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: u32,
    rows: usize,
    cols: usize,
    colour_of: impl Fn(usize, usize) -> Option<RGBColor>,
) -> PlotResult {
    let (w, full_h) = area.dim_in_pixel();
    let h = full_h.saturating_sub(top).max(1);
    for py in 0..h {
        let r = ((py as usize * rows) / h as usize).min(rows.saturating_sub(1));
        for px in 0..w {
            let c = ((px as usize * cols) / w as usize).min(cols.saturating_sub(1));
            if let Some(colour) = colour_of(r, c) {
                area.draw_pixel((px as i32, (py + top) as i32), &colour)
                    .map_err(|e| draw_err(format!("{e:?}")))?;
            }
        }
    }
    Ok(())
}

/// A vertical colour bar for values `lo..hi` beside a heat map.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
    label: &str,
    stops: &[(f64, RGBColor)],
) -> PlotResult {
    let mut bar = ChartBuilder::on(area)
        .margin_top(50)
        .margin_bottom(50)
        .margin_right(8)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, lo..hi)
        .map_err(draw_err)?;
    bar.configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .disable_y_mesh()
        .y_desc(label)
        .y_label_formatter(&|y| {
            if hi - lo > 5.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(draw_err)?;
    let steps = 100;
    bar.draw_series((0..steps).map(|k| {
        let a = lo + (hi - lo) * k as f64 / steps as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
        let t = (k as f64 + 0.5) / steps as f64;
        Rectangle::new([(0.0, a), (1.0, b)], lerp(stops, t).filled())
    }))
    .map_err(draw_err)?;
    Ok(())
}

/// The predicted aligned error `[N, N]` (Å) as a heat map, 0 to `max_pae`; `chain_starts` (the first
/// residue of every chain after the first) are marked by black lines.
pub(crate) fn pae_png(
    path: &Path,
    title: &str,
    pae: ArrayView2<f32>,
    max_pae: f32,
    chain_starts: &[usize],
) -> PlotResult {
    let n = pae.nrows().max(1);
    let max = (max_pae as f64).max(1e-3);
    render(path, (760, 640), |root| {
        let (left, right) = root.split_horizontally(650);
        let mut chart = chart(
            &left,
            title,
            20,
            55,
            0.5f64..n as f64 + 0.5,
            n as f64 + 0.5..0.5f64,
        )?;
        axes(&mut chart, "Scored residue", "Aligned residue", false)?;
        let plot = chart.plotting_area().strip_coord_spec();
        raster(&plot, 0, pae.nrows(), pae.ncols(), |r, c| {
            Some(lerp(&PAE_STOPS, pae[[r, c]] as f64 / max))
        })?;
        for &b in chain_starts {
            let at = b as f64 + 0.5;
            for line in [
                [(at, 0.5), (at, n as f64 + 0.5)],
                [(0.5, at), (n as f64 + 0.5, at)],
            ] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        line,
                        BLACK.stroke_width(2),
                    )))
                    .map_err(draw_err)?;
            }
        }
        colour_bar(&right, 0.0, max, "Expected position error (Å)", &PAE_STOPS)
    })
}

/// Identity of each MSA row to the first (the query), over the query's length, as ColabFold plots it.
fn identities(msa: ArrayView2<i32>) -> Vec<f64> {
    let n = msa.ncols().max(1);
    msa.rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(msa.row(0).iter())
                .filter(|(a, q)| a == q && **a != GAP)
                .count() as f64
                / n as f64
        })
        .collect()
}

/// MSA coverage: every row (sorted by identity to the query, most identical on top) coloured by its
/// identity where it is aligned, white in its gaps; the black line counts the aligned rows per position.
pub(crate) fn coverage_png(path: &Path, title: &str, msa: ArrayView2<i32>) -> PlotResult {
    let (s, n) = msa.dim();
    let ident = identities(msa);
    let mut order: Vec<usize> = (0..s).collect();
    order.sort_by(|&a, &b| ident[b].total_cmp(&ident[a]).then(a.cmp(&b)));
    let coverage: Vec<usize> = (0..n)
        .map(|j| (0..s).filter(|&i| msa[[i, j]] != GAP).count())
        .collect();
    let rows = s.max(1);
    // Headroom above the MSA for the legend.
    let y_max = rows as f64 * 1.15;
    render(path, (1000, 560), |root| {
        let (left, right) = root.split_horizontally(890);
        let mut chart = chart(
            &left,
            title,
            22,
            65,
            0.5f64..n.max(1) as f64 + 0.5,
            0f64..y_max,
        )?;
        axes(&mut chart, "Position", "Sequences", false)?;
        if s > 0 && n > 0 {
            let plot = chart.plotting_area().strip_coord_spec();
            // Raster row 0 is the top of the plot: the most identical rows (the query first) go there.
            let top = (plot.dim_in_pixel().1 as f64 * (1.0 - rows as f64 / y_max)).round() as u32;
            raster(&plot, top, s, n, |r, c| {
                let i = order[r];
                (msa[[i, c]] != GAP).then(|| lerp(&IDENTITY_STOPS, ident[i]))
            })?;
        }
        chart
            .draw_series(LineSeries::new(
                coverage
                    .iter()
                    .enumerate()
                    .map(|(j, &c)| ((j + 1) as f64, c as f64)),
                BLACK.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label("Coverage (aligned sequences per position)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(3)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        colour_bar(
            &right,
            0.0,
            1.0,
            "Sequence identity to query",
            &IDENTITY_STOPS,
        )
    })
}

/// The three plots of a finished target directory (`features.h5` for the MSA, `result_<model>.h5` for the
/// confidences), naming the top-ranked model; returns the files written.
pub(crate) fn target_plots(
    dir: &Path,
    target: &str,
    msa: ArrayView2<i32>,
    models: &[(String, Vec<f32>)],
    top_pae: Option<(&str, Array2<f32>, f32)>,
) -> Result<Vec<std::path::PathBuf>, String> {
    target_plots_with_chains(dir, target, msa, models, top_pae, &[])
}

/// [`target_plots`] for a complex: the PAE picture marks where each chain after the first starts.
pub(crate) fn target_plots_with_chains(
    dir: &Path,
    target: &str,
    msa: ArrayView2<i32>,
    models: &[(String, Vec<f32>)],
    top_pae: Option<(&str, Array2<f32>, f32)>,
    chain_starts: &[usize],
) -> Result<Vec<std::path::PathBuf>, String> {
    let mut written = Vec::new();
    let p = dir.join("coverage.png");
    coverage_png(
        &p,
        &format!("{target}: MSA coverage ({} sequences)", msa.nrows()),
        msa,
    )?;
    written.push(p);
    if !models.is_empty() {
        let p = dir.join("plddt.png");
        plddt_png(&p, &format!("{target}: predicted LDDT per residue"), models)?;
        written.push(p);
    }
    if let Some((name, pae, max)) = top_pae {
        let p = dir.join("pae.png");
        pae_png(
            &p,
            &format!("{target}: predicted aligned error ({name})"),
            pae.view(),
            max,
            chain_starts,
        )?;
        written.push(p);
    }
    Ok(written)
}

/// `score.png`: per-residue lDDT (Cα, and all-atom where scored) against the model's pLDDT along the
/// reference's residues, both on 0-100, with their correlation in the title.
pub(crate) fn score_png(path: &Path, report: &crate::score::ScoreReport) -> PlotResult {
    let n = report.per_residue.len().max(1);
    let title = format!(
        "lDDT vs pLDDT (TM-score {:.3}, GDT-TS {:.1}, lDDT-Cα {:.3}{})",
        report.tm_score,
        report.gdt_ts,
        report.lddt_ca,
        report
            .plddt_lddt_correlation
            .map(|r| format!(", r = {r:.2}"))
            .unwrap_or_default()
    );
    render(path, (1000, 520), |root| {
        let mut chart = chart(root, &title, 20, 55, 1f64..n as f64, 0f64..100f64)?;
        axes(
            &mut chart,
            "Residue (reference order)",
            "Score (0-100)",
            true,
        )?;
        type Pick = fn(&crate::score::PerResidue) -> Option<f64>;
        let lines: [(&str, Pick, RGBColor); 3] = [
            ("pLDDT (model)", |p| p.plddt, RGBColor(0x1F, 0x77, 0xB4)),
            (
                "lDDT Cα",
                |p| p.lddt_ca.map(|v| v * 100.0),
                RGBColor(0xD6, 0x27, 0x28),
            ),
            (
                "lDDT all-atom",
                |p| p.lddt_all_atom.map(|v| v * 100.0),
                RGBColor(0x2C, 0xA0, 0x2C),
            ),
        ];
        for (label, pick, colour) in lines {
            let points: Vec<(f64, f64)> = report
                .per_residue
                .iter()
                .enumerate()
                .filter_map(|(i, p)| pick(p).map(|v| ((i + 1) as f64, v)))
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(draw_err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(3))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_counts_matching_non_gap_positions_over_query_length() {
        let msa = ndarray::arr2(&[[0, 1, 2, 3], [0, 1, 21, 4], [21, 21, 21, 21]]);
        let id = identities(msa.view());
        assert_eq!(id, vec![1.0, 0.5, 0.0]);
    }

    #[test]
    fn colour_ramp_hits_its_stops() {
        assert_eq!(lerp(&PAE_STOPS, 0.0), PAE_STOPS[0].1);
        assert_eq!(lerp(&PAE_STOPS, 1.0), PAE_STOPS[2].1);
        assert_eq!(lerp(&PAE_STOPS, 7.0), PAE_STOPS[2].1);
        let mid = lerp(
            &[(0.0, RGBColor(0, 0, 0)), (1.0, RGBColor(200, 100, 0))],
            0.5,
        );
        assert_eq!(mid, RGBColor(100, 50, 0));
    }

    #[test]
    fn plots_are_png_files_with_pixels_in_the_band_colours() {
        let dir = tempfile::tempdir().unwrap();
        let n = 40;
        let plddt: Vec<f32> = (0..n).map(|i| 30.0 + 60.0 * i as f32 / n as f32).collect();
        let pae = Array2::from_shape_fn((n, n), |(i, j)| (i as f32 - j as f32).abs().min(31.75));
        let msa = Array2::from_shape_fn((12, n), |(i, j)| {
            if (i + j) % 5 == 0 {
                21
            } else {
                (j % 20) as i32
            }
        });
        let files = target_plots(
            dir.path(),
            "t",
            msa.view(),
            &[("model_1".into(), plddt)],
            Some(("model_1", pae, 31.75)),
        )
        .unwrap();
        assert_eq!(files.len(), 3);
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", f.display());
            let dec = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut reader = dec.read_info().unwrap();
            let mut img = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut img).unwrap();
            let px: Vec<&[u8]> = img[..info.buffer_size()].chunks(3).collect();
            let distinct: std::collections::HashSet<&[u8]> = px.iter().copied().collect();
            assert!(distinct.len() > 20, "{} looks blank", f.display());
            if f.ends_with("pae.png") {
                // The darkest PAE colour (0 Å on the diagonal) is drawn.
                let c = PAE_STOPS[0].1;
                assert!(px.iter().any(|p| p == &[c.0, c.1, c.2]));
            }
        }
        // No temporaries left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
