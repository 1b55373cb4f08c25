//! One administration of ketamine or esketamine: what was given, how much, by which route, and
//! the mg/kg computed from the weight used. Boosters are further administrations.

use super::{FieldError, optional_decimal, optional_text};
use crate::course::Route;
use crate::vocab::vocab;

vocab!(
    Drug, "drug" {
        RacemicKetamine = "racemic_ketamine",
        Esketamine = "esketamine",
    }
);

vocab!(
    Formulation, "formulation" {
        InjectionSolution = "injection_solution",
        Lozenge = "lozenge",
        RapidDissolvingTablet = "rapid_dissolving_tablet",
        OralSolution = "oral_solution",
        Capsule = "capsule",
        NasalSprayDevice = "nasal_spray_device",
        /// Only for doses imported from records that did not say; never offered on a form.
        Unrecorded = "unrecorded",
    }
);

/// Spravato devices hold 28 mg each (kap-protocol.md §2.2, [R21]).
pub const ESKETAMINE_DEVICE_MG: f64 = 28.0;
/// Beyond these a figure is a slip of the keyboard, not a dose or a person.
pub const DOSE_MG: (f64, f64) = (1.0, 1000.0);
pub const WEIGHT_KG: (f64, f64) = (25.0, 350.0);

impl Formulation {
    /// The formulations that can be given by a route.
    pub fn for_route(route: Route) -> &'static [Formulation] {
        use Formulation::*;
        match route {
            Route::Iv | Route::Im | Route::Sc => &[InjectionSolution],
            Route::Sublingual => &[Lozenge, RapidDissolvingTablet],
            Route::Oral => &[OralSolution, Capsule, Lozenge, RapidDissolvingTablet],
            Route::IntranasalEsketamine => &[NasalSprayDevice],
        }
    }
}

/// An administration as typed.
#[derive(Debug, Clone, Default)]
pub struct DoseInput<'a> {
    pub drug: &'a str,
    pub route: &'a str,
    pub formulation: &'a str,
    pub dose_mg: &'a str,
    pub weight_kg: &'a str,
    pub lot: &'a str,
}

/// A checked administration (its time is checked against the session by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    pub drug: Drug,
    pub route: Route,
    pub formulation: Formulation,
    pub dose_mg: f64,
    pub weight_kg: f64,
    pub lot: Option<String>,
}

impl Dose {
    pub fn parse(input: &DoseInput<'_>) -> Result<Dose, FieldError> {
        let drug = Drug::parse(input.drug.trim())?;
        let route = Route::parse(input.route.trim())?;
        let formulation = Formulation::parse(input.formulation.trim())?;
        if (drug == Drug::Esketamine) != (route == Route::IntranasalEsketamine) {
            return Err(FieldError::new(
                "route",
                "esketamine is given only as intranasal_esketamine, and that route only gives esketamine",
            ));
        }
        let allowed = Formulation::for_route(route);
        if !allowed.contains(&formulation) {
            let ids: Vec<&str> = allowed.iter().map(|f| f.as_str()).collect();
            return Err(FieldError::new(
                "formulation",
                format!(
                    "'{formulation}' is not given by the {route} route; allowed: {}",
                    ids.join(", ")
                ),
            ));
        }
        let dose_mg = optional_decimal("dose_mg", input.dose_mg, DOSE_MG.0, DOSE_MG.1, "mg")?
            .ok_or_else(|| FieldError::new("dose_mg", "is required, in mg"))?;
        if drug == Drug::Esketamine && (dose_mg % ESKETAMINE_DEVICE_MG) != 0.0 {
            return Err(FieldError::new(
                "dose_mg",
                format!(
                    "esketamine comes in 28 mg devices; {dose_mg} mg is not a whole number of devices (allowed: 28, 56, 84)"
                ),
            ));
        }
        let weight_kg = parse_weight(input.weight_kg)?;
        let lot = optional_text("lot", input.lot, 64)?;
        Ok(Dose {
            drug,
            route,
            formulation,
            dose_mg,
            weight_kg,
            lot,
        })
    }

    pub fn mg_per_kg(&self) -> f64 {
        self.dose_mg / self.weight_kg
    }
}

/// The patient's weight in kg, required wherever a dose is given or screened.
pub fn parse_weight(raw: &str) -> Result<f64, FieldError> {
    optional_decimal("weight_kg", raw, WEIGHT_KG.0, WEIGHT_KG.1, "kg")?.ok_or_else(|| {
        FieldError::new(
            "weight_kg",
            "is required: the dose in mg/kg is computed from the weight used",
        )
    })
}

/// "0.53 mg/kg"
pub fn format_mg_per_kg(dose_mg: f64, weight_kg: f64) -> String {
    format!("{:.2} mg/kg", dose_mg / weight_kg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sl(dose: &str, weight: &str) -> DoseInput<'static> {
        DoseInput {
            drug: "racemic_ketamine",
            route: "sublingual",
            formulation: "rapid_dissolving_tablet",
            dose_mg: Box::leak(dose.to_string().into_boxed_str()),
            weight_kg: Box::leak(weight.to_string().into_boxed_str()),
            lot: "",
        }
    }

    #[test]
    fn mg_per_kg_comes_from_the_weight_used() {
        let d = Dose::parse(&sl("100", "80")).expect("valid");
        assert_eq!(d.mg_per_kg(), 1.25);
        assert_eq!(format_mg_per_kg(d.dose_mg, d.weight_kg), "1.25 mg/kg");
    }

    #[test]
    fn a_dose_without_a_weight_is_refused() {
        let e = Dose::parse(&sl("100", "")).expect_err("no weight");
        assert_eq!(e.field, "weight_kg");
        assert!(e.message.contains("mg/kg"), "{e}");
        assert_eq!(
            Dose::parse(&sl("", "80")).expect_err("no dose").field,
            "dose_mg"
        );
        assert_eq!(
            Dose::parse(&sl("5000", "80")).expect_err("huge").field,
            "dose_mg"
        );
        assert_eq!(
            Dose::parse(&sl("100", "8")).expect_err("tiny").field,
            "weight_kg"
        );
    }

    #[test]
    fn drug_route_and_formulation_must_agree() {
        let mut es = DoseInput {
            drug: "esketamine",
            route: "intranasal_esketamine",
            formulation: "nasal_spray_device",
            dose_mg: "56",
            weight_kg: "70",
            lot: "L1",
        };
        assert!(Dose::parse(&es).is_ok());
        es.dose_mg = "50";
        assert_eq!(Dose::parse(&es).expect_err("devices").field, "dose_mg");
        es.dose_mg = "56";
        es.route = "sublingual";
        assert_eq!(Dose::parse(&es).expect_err("route").field, "route");
        let mut iv = sl("40", "80");
        iv.route = "iv";
        let e = Dose::parse(&iv).expect_err("formulation");
        assert_eq!(e.field, "formulation");
        assert!(e.message.contains("injection_solution"), "{e}");
        iv.drug = "ketamine";
        assert_eq!(Dose::parse(&iv).expect_err("drug").field, "drug");
    }
}
