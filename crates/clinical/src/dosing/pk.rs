//! The clock of a dosing session: time since the first administration, with each route's
//! typical peak and recovery drawn as bands labelled "typical, varies widely". Never a
//! discharge criterion (kap-protocol.md §3, display rule 3): discharge is the clinician's
//! attestation plus vitals, after the observation minimum.

use crate::course::Route;

/// Typical windows in minutes after the first administration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteKinetics {
    pub route: Route,
    pub onset: Window,
    pub peak: Window,
    pub recovery: Window,
    /// Where the figures come from (kap-protocol.md §3 reference ids), and what is our reading.
    pub source: &'static str,
}

pub const LABEL: &str = "typical, varies widely";

/// Peak windows follow the Tmax / peak-effect column of kap-protocol.md §3; recovery windows
/// are kapstone's reading of the subjective time course and elimination there, for display only.
pub const KINETICS: &[RouteKinetics] = &[
    RouteKinetics {
        route: Route::Iv,
        onset: Window { from: 0, to: 5 },
        peak: Window { from: 30, to: 45 },
        recovery: Window { from: 60, to: 120 },
        source: "IV: peak at the end of a 40-min infusion; distribution t½ 10–15 min [R33b]; recovery band kapstone's reading",
    },
    RouteKinetics {
        route: Route::Im,
        onset: Window { from: 2, to: 5 },
        peak: Window { from: 5, to: 20 },
        recovery: Window { from: 60, to: 120 },
        source: "IM: onset ~5 min, plasma Tmax 5–15 min, peak effect ~20 min [R33][R33c]; recovery band kapstone's reading",
    },
    RouteKinetics {
        route: Route::Sc,
        onset: Window { from: 5, to: 15 },
        peak: Window { from: 15, to: 30 },
        recovery: Window { from: 60, to: 120 },
        source: "SC: no PK row in kap-protocol.md §3; IM-like windows, widened — kapstone's reading",
    },
    RouteKinetics {
        route: Route::Sublingual,
        onset: Window { from: 15, to: 20 },
        peak: Window { from: 30, to: 60 },
        recovery: Window { from: 60, to: 120 },
        source: "Sublingual: onset 15–20 min, peak ~40 min (Tmax 0.25–1 h), fades over 1–2 h [R30][R30b][R30c][R37]",
    },
    RouteKinetics {
        route: Route::Oral,
        onset: Window { from: 20, to: 45 },
        peak: Window { from: 45, to: 75 },
        recovery: Window { from: 90, to: 180 },
        source: "Oral: Tmax ~1 h, sedation 20–45 min [R30b][R30c][R32][R33]; recovery band kapstone's reading",
    },
    RouteKinetics {
        route: Route::IntranasalEsketamine,
        onset: Window { from: 5, to: 20 },
        peak: Window { from: 20, to: 40 },
        recovery: Window { from: 120, to: 240 },
        source: "Intranasal esketamine: Tmax 20–40 min after the last spray, rapid fall over the first 2–4 h [R24c][R24d]",
    },
];

pub fn kinetics(route: Route) -> &'static RouteKinetics {
    KINETICS
        .iter()
        .find(|k| k.route == route)
        .unwrap_or(&KINETICS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_ordered_windows() {
        for r in Route::ALL {
            let k = kinetics(*r);
            assert_eq!(k.route, *r, "{r} has its own row");
            assert!(k.onset.from <= k.onset.to && k.peak.from <= k.peak.to);
            assert!(k.recovery.from <= k.recovery.to && k.peak.to <= k.recovery.to);
        }
        assert_eq!(
            kinetics(Route::Sublingual).peak,
            Window { from: 30, to: 60 }
        );
    }
}
