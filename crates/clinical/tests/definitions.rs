//! A clinic's own instrument files are checked at start-up, and a bad one is refused with a
//! message naming the file and the field.

use kapstone_clinical::instrument::{Library, SourceFile, Wording};

const MINI: &str = r#"
id = "mini"
version = "1"
name = "Mini scale"
short_name = "MINI"
rater = "self"
recall_period = "Past week"
wording = "official"
source = "test"
licence = "test"
scoring_rule = "sum"
band_source = "test"
[answer_sets.f]
options = [ { value = 0, label = "No" }, { value = 1, label = "Yes" } ]
[[items]]
number = 1
text = "one"
answers = "f"
[[items]]
number = 2
text = "two"
answers = "f"
[scoring]
method = "sum"
[[bands]]
id = "low"
label = "Low"
min = 0
max = 1
[[bands]]
id = "high"
label = "High"
min = 2
max = 2
"#;

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile {
        name: name.into(),
        text: text.into(),
    }
}

fn refused(name: &str, text: &str) -> String {
    Library::with_clinic_files(&[file(name, text)])
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn a_clinic_can_add_an_instrument() {
    let lib = Library::with_clinic_files(&[file("mini.toml", MINI)]).expect("valid");
    let mini = lib.get("mini").expect("added");
    let s = mini.score(&mini.parse_answers("1,1").expect("valid"));
    assert_eq!(s.severity.map(|b| b.id), Some("high".to_string()));
    assert_eq!(lib.ids().len(), 11);
}

#[test]
fn band_gaps_overlaps_and_short_coverage_are_refused() {
    let gap = MINI.replace("min = 2\nmax = 2", "min = 3\nmax = 3");
    assert_eq!(
        refused("mini.toml", &gap),
        "instrument file mini.toml: bands[1].min: is 3, expected 2: bands must run in order from 0 to 2 without gaps or overlaps"
    );
    let short = MINI.replace(
        "min = 2\nmax = 2",
        "min = 2\nmax = 2\n[[bands]]\nid = \"x\"\nlabel = \"X\"\nmin = 3\nmax = 3",
    );
    assert_eq!(
        refused("mini.toml", &short),
        "instrument file mini.toml: bands: the last band ends at 3, but totals reach 2"
    );
    let overlap = MINI.replace("min = 2\nmax = 2", "min = 1\nmax = 2");
    assert!(refused("mini.toml", &overlap).contains("bands[1].min: is 1, expected 2"));
}

#[test]
fn bad_references_and_unknown_fields_are_refused_by_name() {
    let bad_set = MINI.replacen("answers = \"f\"", "answers = \"g\"", 1);
    assert_eq!(
        refused("mini.toml", &bad_set),
        "instrument file mini.toml: items[0].answers: no answer set named 'g'; defined: f"
    );
    let bad_rater = MINI.replace("rater = \"self\"", "rater = \"robot\"");
    assert!(
        refused("mini.toml", &bad_rater)
            .contains("rater: 'robot' is not allowed; allowed values: self, clinician")
    );
    let typo = MINI.replace("scoring_rule", "scoring_rules");
    let msg = refused("mini.toml", &typo);
    assert!(
        msg.starts_with("instrument file mini.toml: toml:") && msg.contains("scoring_rules"),
        "{msg}"
    );
    let flag = format!(
        "{MINI}\n[[flags]]\nid = \"f1\"\nlabel = \"x\"\nwhen = {{ item = 7, at_least = 1 }}\n"
    );
    assert_eq!(
        refused("mini.toml", &flag),
        "instrument file mini.toml: flags[0].when: item 7 does not exist (items are 1-2)"
    );
    let optional_scored = MINI.replacen("answers = \"f\"", "answers = \"f\"\noptional = true", 1);
    assert!(
        refused("mini.toml", &optional_scored)
            .contains("items[0]: a scored item cannot be optional")
    );
}

#[test]
fn a_clinic_cannot_replace_a_builtin_instrument() {
    let clash = MINI.replace("id = \"mini\"", "id = \"phq9\"");
    assert!(refused("phq9.toml", &clash).contains(
        "'phq9' is already in the library; to supply licensed wording for it use phq9.wording.toml"
    ));
}

#[test]
fn licensed_wording_replaces_labels_only() {
    let items: String = (1..=6)
        .map(|n| format!("{{ number = {n}, text = \"licensed {n}\" }},"))
        .collect();
    let overlay = format!(
        "instrument = \"cadss6\"\ninstructions = \"licensed instructions\"\nitems = [{items}]\n"
    );
    let lib = Library::with_clinic_files(&[file("cadss6.wording.toml", &overlay)]).expect("valid");
    let cadss = lib.get("cadss6").expect("exists");
    assert_eq!(cadss.wording, Wording::ClinicSupplied);
    assert_eq!(cadss.items[5].text, "licensed 6");
    assert_eq!(cadss.instructions, "licensed instructions");

    let builtin = Library::builtin().expect("valid");
    assert_eq!(
        builtin.get("cadss6").expect("exists").wording,
        Wording::LabelsOnly
    );
    assert_eq!(
        builtin.get("ebi").expect("exists").wording,
        Wording::LabelsOnly
    );

    let missing = "instrument = \"cadss6\"\nitems = [{ number = 1, text = \"a\" }]\n";
    assert!(
        refused("cadss6.wording.toml", missing)
            .contains("items: must give text for items [1, 2, 3, 4, 5, 6]")
    );
    let unknown = "instrument = \"madrs\"\nitems = []\n";
    assert_eq!(
        refused("madrs.wording.toml", unknown),
        "instrument file madrs.wording.toml: instrument: no instrument 'madrs' in the library"
    );
}
