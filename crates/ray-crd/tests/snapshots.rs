//! Pins the generated CRDs: any change to the API types shows up as a reviewable snapshot diff
//! (`cargo insta review`), besides making `cargo xtask crd --check` fail until config/crd/ is regenerated.

#[test]
fn generated_crds() {
    for file in ray_crd::crd_files().expect("the CRD files render") {
        insta::assert_snapshot!(file.file_name.clone(), file.contents);
    }
}
