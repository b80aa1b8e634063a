//! Actions at a port's caps: what the gateway does with a call once the
//! port is above its soft cap (`onSoftCap`) or the call would pass its hard
//! cap (`onHardCap`): let it pass, send it with a cheaper model, let at most
//! n calls a minute through, or refuse it. Pure: the port's gate takes the
//! standing and the minute's count from its storage and asks [`verdict`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which cap an action is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cap {
    /// The soft cap: the port's usage is above it.
    Soft,
    /// The hard cap: the call would not fit under it.
    Hard,
}

impl Cap {
    /// `soft` or `hard`, as the `X-Budget-Cap` header names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cap::Soft => "soft",
            Cap::Hard => "hard",
        }
    }
}

/// What to do with a call at a cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum CapAction {
    /// Let the call through (the soft cap's behaviour without settings).
    Pass,
    /// Send the call with a cheaper model: keys are model names or prefixes
    /// ending in `*`, values the model to send instead.
    Downgrade {
        /// The cheaper model by model (exact names win over prefixes, a
        /// longer prefix over a shorter one).
        models: BTreeMap<String, String>,
    },
    /// At most `callsPerMinute` calls a minute pass (minutes of the epoch),
    /// the rest are answered 429 until the next minute.
    Throttle {
        /// Calls a minute.
        #[serde(rename = "callsPerMinute")]
        calls_per_minute: u64,
    },
    /// Refuse the call (the hard cap's behaviour without settings).
    Refuse,
}

/// The actions a port's calls are judged under.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapActions {
    /// Above the soft cap (none: pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_soft_cap: Option<CapAction>,
    /// At the hard cap (none: refuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hard_cap: Option<CapAction>,
}

/// Where a call stands against a cap (the port's, or its feature's),
/// before any action; ordered from under to over the hard cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Under the soft cap (or no budget): nothing to act on.
    Under,
    /// Usage is above the soft cap and the call fits the hard cap.
    OverSoft,
    /// The call would not fit under the hard cap.
    OverHard,
}

/// What an action did to a call, for the answer's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acted {
    /// The cap.
    pub cap: Cap,
    /// What happened.
    pub action: ActionTaken,
    /// The cap is the call's feature's (else the port's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub feature: bool,
}

/// What happened to a call at a cap (`X-Budget-Action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionTaken {
    /// It went on as asked.
    Passed,
    /// It went on with a cheaper model.
    Downgraded,
    /// It waits for the next minute's slots.
    Throttled,
    /// It was refused.
    Refused,
}

impl ActionTaken {
    /// `passed`, `downgraded`, `throttled` or `refused`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionTaken::Passed => "passed",
            ActionTaken::Downgraded => "downgraded",
            ActionTaken::Throttled => "throttled",
            ActionTaken::Refused => "refused",
        }
    }
}

/// The gate's verdict on a call at the caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hold the call as asked (the hold itself may still refuse it).
    Proceed {
        /// The action that let it on, if one applied.
        acted: Option<Acted>,
        /// The minute whose throttle slot the call takes once held.
        slot: Option<i64>,
    },
    /// Hold it again as this model.
    Downgrade {
        /// The cheaper model.
        model: String,
        /// The cap that asked for it.
        cap: Cap,
    },
    /// Refused until the next minute's slots.
    Throttled {
        /// Whole seconds to the next minute (at least 1).
        retry_after: u64,
    },
    /// Refused by the action.
    Refused {
        /// The cap.
        cap: Cap,
    },
}

/// Milliseconds in a throttle's minute.
const MINUTE_MS: i64 = 60_000;

/// The minute of the epoch containing `now_ms`.
pub fn minute_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(MINUTE_MS)
}

/// The model to send instead of `model`, by `models` (exact names first,
/// then the longest matching prefix ending in `*`); `None` when no entry
/// names it or it maps to itself.
///
/// # Example
/// ```
/// use std::collections::BTreeMap;
/// use ai_budget::actions::downgrade_target;
///
/// let models = BTreeMap::from([("claude-sonnet-*".to_owned(), "claude-haiku-4-5".to_owned())]);
/// assert_eq!(downgrade_target(&models, "claude-sonnet-4-6"), Some("claude-haiku-4-5"));
/// assert_eq!(downgrade_target(&models, "gpt-4.1"), None);
/// ```
pub fn downgrade_target<'a>(models: &'a BTreeMap<String, String>, model: &str) -> Option<&'a str> {
    let target = models.get(model).map(String::as_str).or_else(|| {
        models
            .iter()
            .filter_map(|(key, to)| {
                let prefix = key.strip_suffix('*')?;
                model.starts_with(prefix).then_some((prefix.len(), to))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, to)| to.as_str())
    })?;
    (target != model).then_some(target)
}

/// Judges a throttle of `per_minute` calls at `now_ms` with `taken` calls
/// already through in the current minute: `Ok(minute)` when a slot is left
/// (the call takes the minute's next one), else `Err(seconds)` to the next
/// minute (rounded up, at least 1).
pub fn throttle(now_ms: i64, taken: u64, per_minute: u64) -> Result<i64, u64> {
    let minute = minute_of(now_ms);
    if taken < per_minute {
        return Ok(minute);
    }
    let wait_ms = (minute + 1) * MINUTE_MS - now_ms;
    Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1))
}

/// The verdict on a call of `model` standing as `standing`, under
/// `actions`. `downgraded`: the call is already the cheaper model (a
/// second downgrade never happens). `taken` tells how many calls the
/// port let through in a minute (read only for a throttle).
pub fn verdict(
    actions: &CapActions,
    standing: Standing,
    model: &str,
    downgraded: bool,
    now_ms: i64,
    taken: impl FnOnce(i64) -> u64,
) -> Verdict {
    let (cap, action) = match standing {
        Standing::Under => return proceed(None),
        Standing::OverSoft => (Cap::Soft, actions.on_soft_cap.as_ref()),
        Standing::OverHard => (Cap::Hard, actions.on_hard_cap.as_ref()),
    };
    let acted = |action| {
        Some(Acted {
            cap,
            action,
            feature: false,
        })
    };
    match (cap, action) {
        (Cap::Soft, None) => proceed(None),
        (Cap::Hard, None) => proceed(acted(ActionTaken::Refused)),
        (_, Some(CapAction::Pass)) => proceed(acted(ActionTaken::Passed)),
        (_, Some(CapAction::Refuse)) => Verdict::Refused { cap },
        (_, Some(CapAction::Downgrade { models })) => {
            match downgrade_target(models, model).filter(|_| !downgraded) {
                Some(to) => Verdict::Downgrade {
                    model: to.to_owned(),
                    cap,
                },
                // Nothing cheaper: on as asked, and the hard cap refuses.
                None if cap == Cap::Hard => proceed(acted(ActionTaken::Refused)),
                None => proceed(acted(ActionTaken::Passed)),
            }
        }
        (_, Some(CapAction::Throttle { calls_per_minute })) => {
            let minute = minute_of(now_ms);
            match throttle(now_ms, taken(minute), *calls_per_minute) {
                Ok(slot) => Verdict::Proceed {
                    acted: acted(ActionTaken::Passed),
                    slot: Some(slot),
                },
                Err(retry_after) => Verdict::Throttled { retry_after },
            }
        }
    }
}

fn proceed(acted: Option<Acted>) -> Verdict {
    Verdict::Proceed { acted, slot: None }
}

/// The verdict on a call judged against two caps: the port's under
/// `port` and its feature's under `feature`. The feature's actions judge
/// it when the feature's cap is the one crossed (the call stands further
/// over it than over the port's: a feature above its soft cap in a port
/// under its own, or a call past the feature's hard cap in a port only
/// above its soft one); the port's otherwise, so a feature's actions never
/// loosen what the port's cap asks. Answers whether the feature's actions
/// judged, and the verdict (its `acted` marked as the feature's). `taken`
/// is asked for the minute's count of the judging actions' throttle
/// (`true`: the feature's own).
pub fn verdict_of_caps(
    port: (&CapActions, Standing),
    feature: (&CapActions, Standing),
    model: &str,
    downgraded: bool,
    now_ms: i64,
    taken: impl FnOnce(bool, i64) -> u64,
) -> (bool, Verdict) {
    let by_feature = feature.1 > port.1;
    let (actions, standing) = if by_feature { feature } else { port };
    let mut v = verdict(actions, standing, model, downgraded, now_ms, |minute| {
        taken(by_feature, minute)
    });
    if let Verdict::Proceed {
        acted: Some(acted), ..
    } = &mut v
    {
        acted.feature = by_feature;
    }
    (by_feature, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn exact_names_win_over_prefixes_and_longer_prefixes_over_shorter() {
        let models = map(&[
            ("gpt-4.1", "gpt-4.1-mini"),
            ("gpt-*", "gpt-4.1-nano"),
            ("gpt-4o*", "gpt-4o-mini"),
            ("claude-haiku-*", "claude-haiku-4-5"),
        ]);
        assert_eq!(downgrade_target(&models, "gpt-4.1"), Some("gpt-4.1-mini"));
        assert_eq!(
            downgrade_target(&models, "gpt-4o-2024"),
            Some("gpt-4o-mini")
        );
        assert_eq!(downgrade_target(&models, "gpt-5"), Some("gpt-4.1-nano"));
        assert_eq!(downgrade_target(&models, "o3"), None);
        assert_eq!(
            downgrade_target(&models, "claude-haiku-4-5"),
            None,
            "a model mapped to itself is not a downgrade"
        );
    }

    #[test]
    fn a_throttle_lets_n_calls_a_minute_through_and_points_to_the_next_minute() {
        // The first instant of a minute.
        let start = 30_000_000 * 60_000;
        assert_eq!(throttle(start, 0, 3), Ok(minute_of(start)));
        assert_eq!(throttle(start + 59_999, 2, 3), Ok(minute_of(start)));
        assert_eq!(throttle(start, 3, 3), Err(60));
        assert_eq!(throttle(start + 59_001, 3, 3), Err(1));
        assert_eq!(throttle(start + 59_999, 3, 3), Err(1), "never 0");
        assert_eq!(throttle(start + 30_500, 9, 3), Err(30));
        assert_eq!(throttle(start, 0, 0), Err(60), "0 calls a minute: none");
        assert_eq!(minute_of(start + 60_000), minute_of(start) + 1);
    }

    #[test]
    fn under_the_soft_cap_nothing_acts() {
        let actions = CapActions {
            on_soft_cap: Some(CapAction::Refuse),
            on_hard_cap: Some(CapAction::Refuse),
        };
        let v = verdict(&actions, Standing::Under, "m", false, 0, |_| {
            unreachable!("no count read")
        });
        assert_eq!(v, proceed(None));
    }

    #[test]
    fn without_actions_the_soft_cap_passes_and_the_hard_cap_refuses() {
        let none = CapActions::default();
        assert_eq!(
            verdict(&none, Standing::OverSoft, "m", false, 0, |_| 0),
            proceed(None)
        );
        assert_eq!(
            verdict(&none, Standing::OverHard, "m", false, 0, |_| 0),
            proceed(Some(Acted {
                cap: Cap::Hard,
                action: ActionTaken::Refused,
                feature: false
            }))
        );
    }

    #[test]
    fn a_downgrade_names_the_cheaper_model_once() {
        let actions = CapActions {
            on_soft_cap: Some(CapAction::Downgrade {
                models: map(&[("gpt-4.1", "gpt-4.1-mini")]),
            }),
            on_hard_cap: Some(CapAction::Downgrade {
                models: map(&[("claude-sonnet-*", "claude-haiku-4-5")]),
            }),
        };
        assert_eq!(
            verdict(&actions, Standing::OverSoft, "gpt-4.1", false, 0, |_| 0),
            Verdict::Downgrade {
                model: "gpt-4.1-mini".into(),
                cap: Cap::Soft
            }
        );
        assert_eq!(
            verdict(
                &actions,
                Standing::OverHard,
                "claude-sonnet-4-6",
                false,
                0,
                |_| 0
            ),
            Verdict::Downgrade {
                model: "claude-haiku-4-5".into(),
                cap: Cap::Hard
            }
        );
        // Already downgraded, or no cheaper model: on as asked, and the
        // hard cap refuses what does not fit.
        assert_eq!(
            verdict(
                &actions,
                Standing::OverHard,
                "claude-sonnet-4-6",
                true,
                0,
                |_| 0
            ),
            proceed(Some(Acted {
                cap: Cap::Hard,
                action: ActionTaken::Refused,
                feature: false
            }))
        );
        assert_eq!(
            verdict(&actions, Standing::OverSoft, "o3", false, 0, |_| 0),
            proceed(Some(Acted {
                cap: Cap::Soft,
                action: ActionTaken::Passed,
                feature: false
            }))
        );
    }

    #[test]
    fn a_throttle_takes_the_minutes_slot_or_answers_when_the_next_one_opens() {
        let actions = CapActions {
            on_soft_cap: Some(CapAction::Throttle {
                calls_per_minute: 2,
            }),
            ..CapActions::default()
        };
        let now = 120_000 + 15_000;
        let read = std::cell::Cell::new(None);
        let v = verdict(&actions, Standing::OverSoft, "m", false, now, |m| {
            read.set(Some(m));
            1
        });
        assert_eq!(read.get(), Some(2), "the count of the current minute");
        assert_eq!(
            v,
            Verdict::Proceed {
                acted: Some(Acted {
                    cap: Cap::Soft,
                    action: ActionTaken::Passed,
                    feature: false
                }),
                slot: Some(2)
            }
        );
        assert_eq!(
            verdict(&actions, Standing::OverSoft, "m", false, now, |_| 2),
            Verdict::Throttled { retry_after: 45 }
        );
    }

    #[test]
    fn refuse_at_the_soft_cap_refuses_naming_it() {
        let actions = CapActions {
            on_soft_cap: Some(CapAction::Refuse),
            ..CapActions::default()
        };
        assert_eq!(
            verdict(&actions, Standing::OverSoft, "m", false, 0, |_| 0),
            Verdict::Refused { cap: Cap::Soft }
        );
    }

    #[test]
    fn the_features_actions_judge_only_when_its_cap_is_crossed_further_than_the_ports() {
        let port = CapActions {
            on_soft_cap: Some(CapAction::Refuse),
            ..CapActions::default()
        };
        let feature = CapActions {
            on_soft_cap: Some(CapAction::Throttle {
                calls_per_minute: 1,
            }),
            on_hard_cap: Some(CapAction::Downgrade {
                models: map(&[("m", "m-mini")]),
            }),
        };
        let judge = |p, f| {
            verdict_of_caps((&port, p), (&feature, f), "m", false, 0, |of_feature, _| {
                assert!(of_feature, "only the feature's throttle is asked");
                0
            })
        };
        use Standing::*;
        assert_eq!(
            judge(Under, OverSoft),
            (
                true,
                Verdict::Proceed {
                    acted: Some(Acted {
                        cap: Cap::Soft,
                        action: ActionTaken::Passed,
                        feature: true
                    }),
                    slot: Some(0)
                }
            )
        );
        assert_eq!(
            judge(OverSoft, OverHard),
            (
                true,
                Verdict::Downgrade {
                    model: "m-mini".into(),
                    cap: Cap::Hard
                }
            )
        );
        // As far over the port's cap as the feature's, or further: the
        // port's actions.
        assert_eq!(
            judge(OverSoft, OverSoft),
            (false, Verdict::Refused { cap: Cap::Soft })
        );
        assert_eq!(
            judge(OverSoft, Under).1,
            Verdict::Refused { cap: Cap::Soft }
        );
        assert_eq!(judge(Under, Under), (false, proceed(None)));
        // A feature with no action at the cap crossed acts as without
        // settings, not as the port's.
        let quiet = CapActions::default();
        assert_eq!(
            verdict_of_caps((&port, Under), (&quiet, OverSoft), "m", false, 0, |_, _| 0),
            (true, proceed(None))
        );
    }
}
