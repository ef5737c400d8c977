//! Head analysis: a layers × heads heatmap of one statistic (entropy, attention to [CLS], [SEP], self, previous or
//! next token, largest weight), with a short role for the heads whose behaviour is clear-cut. Click a cell to open
//! that head in the head view — an on-screen answer to "what do different layers and heads do?".

use std::sync::Arc;

use leptos::prelude::*;

use crate::engine::attention::Statistic;
use crate::engine::attention::AttentionData;

#[component]
pub fn HeadAnalysis(data: Arc<AttentionData>, on_open: Callback<(usize, usize)>) -> impl IntoView {
    let stats = data.all_head_stats();
    let statistic = RwSignal::new(Statistic::ToPrev);
    let heads = data.num_heads;
    let table = move || {
        let stat = statistic.get();
        let rows = stats
            .iter()
            .enumerate()
            .map(|(l, hs)| {
                let cells = hs
                    .iter()
                    .enumerate()
                    .map(|(h, s)| {
                        let v = s.get(stat);
                        let role = s.role().unwrap_or("");
                        view! {
                            <td><button class="stat-cell" data-testid="stat-cell" data-layer=l.to_string() data-head=h.to_string()
                                data-value=v.to_string() data-role=role
                                style=format!("background: rgba(43,108,176,{:.3}); color: {}", v.clamp(0.0, 1.0), if v > 0.55 { "#fff" } else { "inherit" })
                                title=format!("layer {l}, head {h}: {} = {v:.3}{}", stat.label(), if role.is_empty() { String::new() } else { format!(" — {role}") })
                                on:click=move |_| on_open.run((l, h))>
                                // The name is the visible text, after a prefix only screen readers read.
                                <span class="sr-only">{format!("layer {l} head {h}: ")}</span>
                                <span class="v">{format!("{v:.2} ")}</span><span class="role">{role}</span>
                            </button></td>
                        }
                    })
                    .collect_view();
                view! { <tr><th scope="row">{format!("layer {l}")}</th>{cells}</tr> }
            })
            .collect_view();
        view! {
            <table class="head-analysis" data-testid="head-analysis">
                <thead><tr><th></th>{(0..heads).map(|h| view! { <th scope="col">{format!("head {h}")}</th> }).collect_view()}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    };
    view! {
        <div class="analysis">
            <label>"Statistic "
                <select data-testid="statistic" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    statistic.set(Statistic::ALL.into_iter().find(|s| s.label() == v).unwrap_or(Statistic::ToPrev));
                }>
                    {Statistic::ALL.into_iter().map(|s| view! {
                        <option value=s.label() selected=s == Statistic::ToPrev>{s.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <p class="hint">"Roles: a head is named for what it does when more than half of its attention goes one way (previous / next token, self, [SEP], [CLS]); \"broad\" heads spread attention evenly."</p>
            {table}
        </div>
    }
}
