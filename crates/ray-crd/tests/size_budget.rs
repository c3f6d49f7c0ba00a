//! Every CRD must fit client-side `kubectl apply`'s 262,144-byte annotation. Prints each CRD's size after each
//! shrinking step (`cargo test -p ray-crd --test size_budget -- --nocapture`).

use ray_crd::{Level, RayKind, SIZE_BUDGET, compact_json_size, crd_at_level};

#[test]
fn every_crd_fits_the_client_side_apply_budget() {
    let steps = [
        (None, "as generated"),
        (
            Some(Level::Descriptions),
            "- descriptions of Kubernetes types",
        ),
        (Some(Level::Lossless), "- fields that cannot carry data"),
        (Some(Level::Full), "- opaque subtrees (published)"),
    ];
    let mut over = Vec::new();
    println!("compact JSON bytes per CRD (budget {SIZE_BUDGET}):");
    for kind in RayKind::ALL {
        let mut previous = usize::MAX;
        for (level, label) in steps {
            let crd = crd_at_level(kind, level).expect("the CRD assembles");
            let size = compact_json_size(&crd).expect("the CRD serializes");
            println!("  {:<20} {label:<38} {size:>9}", kind.crd_name());
            assert!(
                size < previous,
                "{kind}: step '{label}' must make the CRD smaller"
            );
            previous = size;
        }
        let published =
            compact_json_size(&ray_crd::crd(kind).expect("the CRD assembles")).expect("serializes");
        assert_eq!(
            published, previous,
            "the published CRD is the fully shrunk one"
        );
        if published >= SIZE_BUDGET {
            over.push(format!("{} is {published} bytes", kind.crd_name()));
        }
    }
    assert!(
        over.is_empty(),
        "over the {SIZE_BUDGET}-byte budget: {}",
        over.join(", ")
    );
}
