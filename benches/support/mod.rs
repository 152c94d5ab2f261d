//! Shared by the benches: the 100-record list page of the example integration's contacts
//! (`benches/mapping.rs` maps it, `benches/server_load.rs` and `benches/storage_backends.rs`
//! serve it from a loopback mock), and in [`load`] the mock, the server and the load generator.
//! Each bench declares `mod common` (tests/common/mod.rs) at its root, which this reads.
#![allow(dead_code)]

use crate::common;
use serde_json::{json, Value};

/// The mock provider, the server subprocess and the load generator of the load benches.
pub mod load;

/// Records on a page.
pub const RECORDS: usize = 100;

/// A deterministic pseudo-random generator (xorshift), so every run maps the same page.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A list page of the example integration's contacts (tests/examples.json) as its list
/// endpoint returns it with `limit=100` and the mapped properties requested: every property a
/// string, unset ones `null` or `""`, a few custom and provider-internal properties. Property
/// names and the paging block come from `bench` in tests/examples.json.
pub fn contacts_page() -> Value {
    let example = common::example();
    let names = example.get("bench.properties");
    let name = |role: &str| -> String {
        names[role].as_str().unwrap_or_else(|| panic!("tests/examples.json: no bench property for `{role}`")).to_string()
    };
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let first = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Émilie", "Hedy", "Claude", "Radia"];
    let last =
        ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "du Châtelet", "Lamarr", "Shannon", "Perlman"];
    let titles = ["Analyst", "Engineer", "VP Sales", "", "Head of Operations", "CTO"];
    let cities = [
        ("London", "United Kingdom", "N1 9GU"),
        ("Paris", "France", "75002"),
        ("Boston", "United States", "02110"),
        ("Berlin", "Germany", "10115"),
    ];
    let mut results = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let id = (51 + i * 7).to_string();
        let (f, l) = (rng.pick(&first), rng.pick(&last));
        let email = format!("{}.{}@example.com", f.to_lowercase(), l.to_lowercase().replace(' ', ""));
        let (city, country, zip) = cities[(rng.next() % cities.len() as u64) as usize];
        let created =
            format!("2024-0{}-{:02}T{:02}:{:02}:07.517Z", 1 + rng.next() % 5, 1 + rng.next() % 28, rng.next() % 24, rng.next() % 60);
        let updated = format!("2024-06-{:02}T09:00:00.000Z", 1 + rng.next() % 28);
        let opt = |rng: &mut Rng, value: String| {
            if rng.chance(70) {
                json!(value)
            } else if rng.chance(50) {
                json!("")
            } else {
                Value::Null
            }
        };
        let mut properties = serde_json::Map::new();
        properties.insert(name("created"), json!(created));
        properties.insert(name("email"), json!(email));
        properties.insert(name("first_name"), json!(f));
        properties.insert(name("last_name"), json!(l));
        properties.insert(name("job_title"), json!(rng.pick(&titles)));
        properties.insert(name("phone"), opt(&mut rng, format!("+1 555 01{:02}", i % 100)));
        properties.insert(name("mobile_phone"), opt(&mut rng, format!("+44 7700 900{:03}", i)));
        properties.insert(name("fax"), if rng.chance(10) { json!("+1 555 0199") } else { Value::Null });
        properties.insert(name("address"), opt(&mut rng, format!("{} Engine Rd", 1 + i)));
        properties.insert(name("city"), json!(city));
        properties.insert(name("state"), Value::Null);
        properties.insert(name("zip"), json!(zip));
        properties.insert(name("country"), json!(country));
        properties.insert(
            name("additional_emails"),
            if rng.chance(30) {
                json!(format!("{}@personal.example;{}.{}@old.example", f.to_lowercase(), f.to_lowercase(), i))
            } else {
                Value::Null
            },
        );
        properties.insert(name("owner_id"), opt(&mut rng, format!("7361622{}", i % 5)));
        properties.insert(name("company_id"), opt(&mut rng, format!("90{:02}", i % 40)));
        properties.insert(name("last_activity"), opt(&mut rng, updated.clone()));
        properties.insert(name("updated"), json!(updated));
        properties.insert(name("object_id"), json!(id));
        properties.insert(name("source"), json!(rng.pick(&["ORGANIC_SEARCH", "DIRECT_TRAFFIC", "OFFLINE"])));
        properties.insert("seats".into(), json!((rng.next() % 50).to_string()));
        properties.insert("loyalty_tier".into(), json!(rng.pick(&["Gold", "Silver", "Bronze", ""])));
        results.push(json!({
            "id": id,
            "properties": properties,
            "createdAt": created,
            "updatedAt": updated,
            "archived": false
        }));
    }
    let mut page = serde_json::Map::new();
    page.insert(example.records.clone(), Value::Array(results));
    page.extend(example.get("bench.paging").as_object().expect("bench.paging is an object").clone());
    Value::Object(page)
}
