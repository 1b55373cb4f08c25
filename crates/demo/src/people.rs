//! Invented people: names, sex, age and contact details that cannot reach anyone.
//!
//! Choices:
//! - Sex as in the largest KAP cohort (Yermus et al.: 948 F / 850 M / 8 non-binary of 1,806):
//!   female 52.4 %, male 47.0 %, other 0.4 %, unknown 0.2 %.
//! - Age at the first course ~ N(42, 12) (Yermus: mean 42, SD 12), clipped to 18–77, so every
//!   patient is an adult when treated and at most 80 on `today` (courses start within two years).
//! - Given names from short lists of common US first names (by sex; either list for other or
//!   unknown), family names from common US surnames. Plain ASCII so they make clean emails.
//! - Email for 85 %, `given.family.N@example.org` with the patient number N, so each is unique;
//!   `example.org` is reserved by RFC 2606 and delivers nowhere.
//! - Phone for 75 %, `+1 503-555-01xx`: 555-0100…0199 is reserved for fiction in every North
//!   American area code (503 is Portland, Oregon, where the demo clinic is).
//! - Postal code for 90 %, a Portland ZIP between 97201 and 97236.

use crate::rng::SplitMix64;
use jiff::Span;
use jiff::civil::Date;
use kapstone_clinical::vocab::Sex;

const FEMALE: &[&str] = &[
    "Mary",
    "Jennifer",
    "Linda",
    "Patricia",
    "Elizabeth",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Sandra",
    "Ashley",
    "Emily",
    "Michelle",
    "Amanda",
    "Melissa",
    "Stephanie",
    "Rebecca",
    "Laura",
    "Emma",
    "Olivia",
    "Sophia",
    "Hannah",
    "Rachel",
    "Megan",
    "Nicole",
    "Samantha",
    "Katherine",
    "Christina",
    "Maria",
    "Ana",
    "Grace",
    "Chloe",
    "Natalie",
    "Julia",
];

const MALE: &[&str] = &[
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Christopher",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Steven",
    "Andrew",
    "Paul",
    "Joshua",
    "Kevin",
    "Brian",
    "Ryan",
    "Jacob",
    "Nicholas",
    "Eric",
    "Jonathan",
    "Justin",
    "Samuel",
    "Benjamin",
    "Nathan",
    "Carlos",
    "Luis",
    "Ethan",
    "Noah",
    "Liam",
    "Aaron",
];

const FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Kim",
    "Patel",
    "Murphy",
];

/// Weights (per 1,000) for female, male, other, unknown.
const SEX_WEIGHTS: [u32; 4] = [524, 470, 4, 2];

pub(crate) struct Person {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub postal_code: Option<String>,
}

/// Patient number `number` (1-based), first treated on `first_start`.
pub(crate) fn person(rng: &mut SplitMix64, number: usize, first_start: Date) -> Person {
    let sex = match rng.weighted(&SEX_WEIGHTS) {
        0 => Sex::Female,
        1 => Sex::Male,
        2 => Sex::Other,
        _ => Sex::Unknown,
    };
    let given = match sex {
        Sex::Female => *rng.pick(FEMALE),
        Sex::Male => *rng.pick(MALE),
        _ => {
            let list = if rng.chance(0.5) { FEMALE } else { MALE };
            *rng.pick(list)
        }
    };
    let family = *rng.pick(FAMILY);
    let age = rng.gauss(42.0, 12.0).round().clamp(18.0, 77.0) as i64;
    let birth_date = first_start
        .saturating_sub(Span::new().years(age))
        .saturating_sub(Span::new().days(rng.range(0, 364)));
    let email = rng.chance(0.85).then(|| {
        format!(
            "{}.{}.{number}@example.org",
            given.to_ascii_lowercase(),
            family.to_ascii_lowercase()
        )
    });
    let phone = rng
        .chance(0.75)
        .then(|| format!("+1 503-555-01{:02}", rng.below(100)));
    let postal_code = rng
        .chance(0.90)
        .then(|| format!("972{:02}", rng.range(1, 36)));
    Person {
        given_name: given.to_string(),
        family_name: family.to_string(),
        birth_date,
        sex,
        email,
        phone,
        postal_code,
    }
}
