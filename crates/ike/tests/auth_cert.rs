//! Certificate authentication: chain verification (valid, expired, wrong CA, wrong name, wrong
//! key usage) with certificates made by rcgen, AUTH signatures of every method signed and
//! verified by us, signatures made by OpenSSL verified by us, and client credentials from PEM
//! and PKCS#12 (modern and legacy, made by OpenSSL).

// Test helpers panic on bad fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ike::cert::{
    CertError, ClientCredential, GatewayIdentity, HashAlgorithm, KeyKind, PeerPublicKey,
    SignatureScheme, TrustStore, auth_method, verify_server,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SignatureAlgorithm,
};

const P12_OPENSSL_MODERN: &str = concat!(
    "3082040c020103308203c206092a864886f70d010701a08203b3048203af308203ab3082026206092a864886f70d0107",
    "06a08202533082024f0201003082024806092a864886f70d010701305706092a864886f70d01050d304a302906092a86",
    "4886f70d01050c301c0408731ec9ebd18e7bab02020800300c06082a864886f70d02090500301d060960864801650304",
    "012a04107e5c754e78fe1639b13407407d0c2f42808201e05e77b60f997f681d6f6a7be1489b0ee872cba32d8593c545",
    "3f7cdfd5a7be9c86b125adba88ca49a2c97540458125f873891e74f1bfc18f477e4641a46efdb5b01ea8b5d028a19433",
    "54b79c37f9db7b3c1fdb0247863b3aa467bf0eacbf3bb283d987125bf945495e3b194277c78e3060fb127ab59ed27ffe",
    "b350c55525a8a1a7fe06919918ce5b674cc05c92679c5a4be0edb6469206f586d6bb06e1f1cc4305cd3713604be118c1",
    "331eae772c8f468e9c198f4d065eaae46d6b27b2466d0f89c4125e9a69c5200463fb3c40a182ce07960139165f110385",
    "e23fb6ad81c990a52628bff33f6e1cdff3f9ffb9fa82e81b7aa2ab98e660e30e21488e8d8805ab239eff99682e416fe4",
    "cd21a5845dcd24b61cca4687c90b4abd424f407a3196a624a285a3592b7b1827db109aa94ccccfa475baa5462b1dcfa5",
    "7d1ef35c40d9d08f9f1d20d2f738b70f93fb4ab7dffa7f949af779a01950fa8e4c5263a7c6de0e2bfe743972591c4628",
    "6d9df72b7b020ccf9ed03d7e52466a42e19f8301f60d9bd03bfb5287c904c6786a401f1a0afb1fe1bb1f412149e7be2f",
    "cdd7908319ab02d66cc6826e92c053e6763bb49e8056ffa9270973c3f84445e2cf4c41d46a5a36a4c940f91d2670c12f",
    "1cf9bc6c9f11df8456a0003faabda5c170943e6ed2531f7e3082014106092a864886f70d010701a08201320482012e30",
    "82012a30820126060b2a864886f70d010c0a0102a081ef3081ec305706092a864886f70d01050d304a302906092a8648",
    "86f70d01050c301c0408c65e7e50a8296bad02020800300c06082a864886f70d02090500301d06096086480165030401",
    "2a0410922d27eeba1b7170660b83cb4e630acb04819055440023cce510e3888a1d60c33902a44d056705f049501cdfb6",
    "212a32e47b236eb206497766211f9779da6d813268b91b2b27bd829d3d81916c4e9b6aa557dcd6df90ce7d83ddb02602",
    "fdcb0f1fd0670941f6814ed2a86f27c345f6e09e05a3ff44cff3dc194fabd3ca07cb81143e84e6442bdf3680591f5939",
    "3be770131471990f0c5f7a3103e7911a82400ea39e073125302306092a864886f70d01091531160414a44e947938940a",
    "ff69252c07f8f0a464b2d4e63930413031300d0609608648016503040201050004208a6ff41db5eda1e610a8c4354f78",
    "05983c3bb43e2c34ff66ecef1d5ff0eaf4a5040896af3509122461c002020800",
);

const P12_OPENSSL_LEGACY_3DES: &str = concat!(
    "308203820201033082034806092a864886f70d010701a082033904820335308203313082022706092a864886f70d0107",
    "06a0820218308202140201003082020d06092a864886f70d010701301c060a2a864886f70d010c0103300e0408d18950",
    "b829a3998302020800808201e0da58f6307e3e24f6538409064095971ed615a1581357321ca59a53610c9a8a4958b07a",
    "f98e45268b5d554434de548b265b89c3393d4f9582b2f47bf53f1e2598bbdd51e5082d046f4b009e44f824bd9aa49f10",
    "c329c81cb92081ae1373818f6376489ee09d9a51935a0130a3d0313a0a7644b4912608d75676f39b5af0aa5d633d6888",
    "8b3596cbdb14de3369450adb7ee45f6abeddb22ccdccb625b078223e7de7d4d8d93e8e3b115808c2c1c76a92cfb374e1",
    "289dacef799a2f1c899dc93b6fe6e956c15d71eb9c79f19c1b89d4ace246d6dc61dc0a72ba2bcc1f6dd630cd7dbdc97b",
    "574bff0aa1240c532bcaf1aef6569ca5044bf2295bd81043e8cf7205fc2574ca75eadbafd683ecc7ebd4b85e9613e7f0",
    "14a05a4a9ef6042698af9e0460563fb02828f082e3ca2d3e035a6afe1eee0e6cb594f3d72a6fd06db81fcfc76d558dd1",
    "39d1fc58a3955506592bca8724d65562cf599a38e5501ec41cd4acff5ad45c0fe2194d152535fbafafd3b8a32c2db2bc",
    "e51a934535b83faf510235e86c9bdc03bdd2e30f59506604c84c3ebc10b7f10656d000eea4a2a49a4ca2bf1b5e25e062",
    "6e4cffd690f29dc9778747a43dd37417169f2b654ff849627b2698f1e2d8ac2377ebbf8b216b203e4c44571fa919b98f",
    "d438f6e0e10b8b2a68edd766a53082010206092a864886f70d010701a081f40481f13081ee3081eb060b2a864886f70d",
    "010c0a0102a081b43081b1301c060a2a864886f70d010c0103300e0408f40e2b8c69943df80202080004819047bbfb03",
    "c540689856ef1e2c82d325347644d3a99161fc37c87de4efe3e83c084a2e1eea9d79812354c54e08579f03113c7adeb1",
    "02548df676eaad6093b04eb5a510a01c220fb0ef2d62674e3a8848306f20a756812ea6ae3720bb6ea572b1200f804089",
    "dbd081ccdf02b32cdf0688c142b97425d864fc8471b1fa84b8bf132d0df7196eb4c77957f76b341c6db6c92431253023",
    "06092a864886f70d01091531160414a44e947938940aff69252c07f8f0a464b2d4e63930313021300906052b0e03021a",
    "05000414728626383afb330b1b8c1e64c7f549f48ad04d4b0408f37c756a5d127dde02020800",
);

const P12_OPENSSL_LEGACY_RC2: &str = concat!(
    "308203820201033082034806092a864886f70d010701a082033904820335308203313082022706092a864886f70d0107",
    "06a0820218308202140201003082020d06092a864886f70d010701301c060a2a864886f70d010c0106300e0408745fc8",
    "000a10e1bd02020800808201e0fd3dd3bbb9ed6bf6dbd6b0f8823baf07b8aa7a56d6625b1fd30fab0e77210522148c78",
    "d6821c23611e75c3a007f6e9bbc76383d7915aeca2d6e7330f972a869ec12ea9d67f4db83c2b9aad0238f4d966e86558",
    "90d4cf7e0dbd032d61de2c1479adba1ddb52de96a86b89e5befa5ee739e46c087030100f861a666eac5a3736b5af4ee6",
    "d8f7518b78ea1e74e18cd97e87dd5895c46128361d8937a89d0f135b5688398ef01788d55406e3a646e1505bb9ee4f25",
    "fb3590857c45cd77a32161c285f31b4b7861cd288ee8564572ff9884b0bf7f4b448164ffe89c811b269a46899f2bb1e7",
    "a7f23cadc4bb09b7f420ae63cdee520a89afb2b489f83aaf57919cb152460656f151f97a916c7c105368e7bd57e0caa6",
    "f381df1593e63e0a53149ec0b2e6088f1e89fc97d402908a9f399720daebe90202691897cc26f56becdd6b94b50d3b83",
    "84c6e3d9a5eeb0509c1291e38ed18d93c02bdf5b1b974d80ae7313ea2e6b1a2ed4628d1bb2cace41069982efff72c6c1",
    "d2188c2458a944f9573abd48ed80a81e090c5673663dec36b2d2ad2d61b7650844071dad101b3e3c663faa58101b49a9",
    "217e07b44653397d5030743ad659e93af0186d04a76320c5ef0a52eea3a9f2e51856632d9c2d70baf658269346a776a5",
    "9be89f1f5e4109095a316a1a0b3082010206092a864886f70d010701a081f40481f13081ee3081eb060b2a864886f70d",
    "010c0a0102a081b43081b1301c060a2a864886f70d010c0103300e0408ed4e712da9583bb2020208000481900bad9011",
    "c9c1cdc67697412f08e30ff495c17e231c16e4a37f39a52e48c2a8d8455db8c220a9322900ab6422c503cc7cf2e967d0",
    "02c59175d4fc651f2bfa055b4e95b5ebfcf5d46d4f632159361ef687968f19c7c7882cd473e58bc72e99efc2ea0bf6c7",
    "a856b75c98bbd5e90bb6ab8ab07d483c2ecc5013f15a2b19ec77a64054e8afa439f518e31606d57b2911fd5131253023",
    "06092a864886f70d01091531160414a44e947938940aff69252c07f8f0a464b2d4e63930313021300906052b0e03021a",
    "05000414765ea14027b042ee08ce078fdc74e4876b911b6f0408001162a326e5c14b02020800",
);

const RSA_2048_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCLeAEo0ZXP3c7k
rHv6cX4kiN2cfcl27nHOX3deEsxbWsgbGiwDYAlbMuqgvBHzQfbpMwOtoH/Py1ny
CmKZoao67zN9hp3CeESlixQML6600LJrA7aE3McRp7v/kHOYLQLtNReGRUseARgT
j5CqJSlpzW7sFPDecIihlwTavdJexBVti1zrLyZ8qG3C9h+tFDfvcybGDsjOVj4k
ijd5NxmQ3ajkTbN8rO47ltn/ruJKkXXISWLQjUnRjcmUVCX9RnlGRvKQxYoyq7sR
We5YgUaFl6+95C6ch8MpmJSUE/uXBVMJXUQoS1o7xV6Y/zNSxh0pnPFbBCE7UKDh
iqOTpqlpAgMBAAECggEAA/4Y2WZrkZ5tzW/PIkektu7ImlHjBjG0BhaHTCUBXuWh
yB3XD/csOWVDIHwVzvcO1pTwaGRpeEU/400PDssZHJQLry6e/knTXEJXnfQw/gnh
66yY6WOJGt0ohXvJBVyXgnskO+KosHiTS/8OgwJqlbXs9JryXMnPrYGNYOYxeyc6
y5NBHAPsM33J9PS3bkql6Hw9yC4lCO3zfT2c/4fs3651tizD9wmDTe5yTkzIShzb
hxCYORCiW0YGDTiEmZOOmsLtp0SD3v0OLj2Uh2zDPY2IAM3Llaq80vQ9KOuSLtUv
Mhvui/yfUG1sDErcUBdeGnZIjAN/axKxCYiqJfTAQQKBgQDCilwlUdCyuEcEhZCB
NeLAEW94y6UUZxKkKpANSd7NDHtjSKQR8gGBUeLjIGahCXeWCwCObNC4fv2rOX58
ALZF7MnKusvI+WAAo9Hw+BU4o6IxcT8dAFiBEvv3GmcdbCZbvB7FlT0+QXG6015T
Ck028XeRj2UiqBV0zWpPlFlcKQKBgQC3h6t/0DfS78pdy7Exx+kaygVZSWCM1uIe
NLSgki4qWwcV83jmFZSKTwj+Da5GNwjmlvEniPTHgZ7253A4QiqNvUO4nkNrbfEn
DdN6llTv8I5p58Q2RP/TUJP4EwygKdThvIl4ZOCYhGIkHAPBQ5Yom/ELOSJjsWxQ
U69jwgyLQQKBgQCtjELx5A/7L9vjE8g7DLhRQfyg1YNaNS1zGKlTwX+qiyUUCDyd
6bggBs4Sctg7dzegugXwCPEWdeuUsYC93OC+dqP6YDPmAVn8mCh1AMvlsEzEMNPt
6l4KH8Z5xasRm2aI1cTZ3O46uKVd1qxCBmGlzzost7CwfyRNA+eAQMaLKQKBgBUR
+lp+KSqKZQ1HqVwxu01cDCkoB3Gj6enV2zbkEXDDapjWjva7W4ZVdI7WOz/MabUv
dxg23QNamkl2YKfU0NXc+L1lThAzWxBEwha805uIXpFCDoC8gzJbeeFtLnHk24/e
+VldG3vnFu1WWggCHmcjIBVNxej0IZ9HPEeTq6UBAoGAT/d1eV3sWJhZdoIehaGw
RxDocaW/TxILE5+M0p8Y1cny0JySDeMmdCCDyiePefRq1mF6NJ3VKY8sR6h194Jf
TyoMPk80s5SdpK2He2K5w/ACo/eGdED09OGvqcdNrA7NSfA7fOY5KVQNXWm/Ok69
hQv1iCi9bizTUPyykm3B/sI=
-----END PRIVATE KEY-----\n";
const OPENSSL_RSA_SPKI: &str = concat!(
    "30820122300d06092a864886f70d01010105000382010f003082010a02820101008b780128d195cfddcee4ac7bfa717e",
    "2488dd9c7dc976ee71ce5f775e12cc5b5ac81b1a2c0360095b32eaa0bc11f341f6e93303ada07fcfcb59f20a6299a1aa",
    "3aef337d869dc27844a58b140c2faeb4d0b26b03b684dcc711a7bbff9073982d02ed351786454b1e0118138f90aa2529",
    "69cd6eec14f0de7088a19704dabdd25ec4156d8b5ceb2f267ca86dc2f61fad1437ef7326c60ec8ce563e248a37793719",
    "90dda8e44db37cacee3b96d9ffaee24a9175c84962d08d49d18dc9945425fd46794646f290c58a32abbb1159ee588146",
    "8597afbde42e9c87c32998949413fb970553095d44284b5a3bc55e98ff3352c61d299cf15b04213b50a0e18aa393a6a9",
    "690203010001",
);

const OPENSSL_RSA_SHA1_SIG: &str = concat!(
    "4d4d6caa60152b7fdf9e72dd69c91bff0fda4e0e7b078e8b210e966449e2325f6592bd6859b94a607e688e9504a0e73b",
    "3eae645d4d8b0db94458068873350b0e2165b85bb9f31e4ed0a532352a1b838160bbe63f6f2b334ff0a385db683efd26",
    "914b4e33bc49f7704288ef369c5ec236ff8cab4dd6446ac34cfca34292756e6037ac6449e32a2ba7b9dc70f62425dd15",
    "7780ff704a423dd50b1d035bb982083ef1b0cfc6c76f15ec5b11b58da03fffc91d2e7abbbd63f74a594b1ec6a63c724f",
    "1a0017a14fec255f345e74dbf5db900031eec2d8c614fe34ba3a6f5e84b2403c27006c69b2250297b295580293a6edc0",
    "c238e07b9766e13ed55443add8edc56d",
);

const OPENSSL_RSA_PSS_SHA256_SIG: &str = concat!(
    "583209ea2c6c1dcb7932cc44646eebd4809969c2c72432ce5207b11f9d0fad04c78bfed951b9f02432a7175e7033cb18",
    "56182323a08ba057d53152732f36766772a7417c024a6f1eb522a7ab2b1489c88171148088f7e16b04841cbd5c075b36",
    "913dce55e6729d312cfa065ad461d0dc9605a4ae6d06b064ac8226fedf6ece3c8afc4758219bf6bcdb06cef052c1a514",
    "3b0155d61a5037009b93eabde8858a8871eaa1449c76609aef3cdb19c1f596592f35d115eb5fbe8ad673d895b57fdc07",
    "4822f107529c422e8cb7741674434df2ba58c0a8626e5e174c98fa116077ad59721091c29ecdabad85e12bb5c2b2366c",
    "fe3dd6516a4ed121bfc06956814d016d",
);

const OPENSSL_EC_P256_SPKI: &str = concat!(
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004cdce210037503eefc89bc5907ed599eff203e17303",
    "176ef77af314a1a720081e8794ddc773b5f458f3baa9820032eed924d955fdafaa540cd83d90cec1f16c34",
);

const OPENSSL_EC_P256_SHA256_DER_SIG: &str = concat!(
    "3046022100893e6e1d1c83d3fb564ace6f98073a278c11cad313ff5d03e973316c33599807022100e0f5d77cfc9aaabb",
    "2f94be7e31ddff380bdefe58c10d9f1310c9c003cca999d2",
);

const OPENSSL_EC_P256_SHA384_DER_SIG: &str = concat!(
    "30440220033f1bf83f0bd6e1360e1c3a16840fa7cba6ff32acc3bfaaf4a5ecaa13d301ce02200d20cac9afffa0938eea",
    "30429f85c03e9a31ced256bf8d61f37556dfc6c34c18",
);

/// 2026-06-01 00:00:00 UTC.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_272_000)
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

struct Ca {
    cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2040, 1, 1);
    p
}

fn make_root(name: &str) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = ca_params(name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert,
        issuer: Issuer::new(params, key),
    }
}

fn intermediate(parent: &Ca, name: &str, not_after: (i32, u8, u8)) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut params = ca_params(name);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        cert,
        issuer: Issuer::new(params, key),
    }
}

fn server_params(sans: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "VPN Gateway");
    p.distinguished_name
        .push(DnType::OrganizationName, "Example");
    for san in sans {
        p.subject_alt_names
            .push(if let Ok(ip) = san.parse::<IpAddr>() {
                SanType::IpAddress(ip)
            } else if san.contains('@') {
                SanType::Rfc822Name((*san).try_into().unwrap())
            } else {
                SanType::DnsName((*san).try_into().unwrap())
            });
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2027, 1, 1);
    p
}

fn issue(
    params: &CertificateParams,
    issuer: &Ca,
    alg: &'static SignatureAlgorithm,
) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate_for(alg).unwrap();
    let cert = params.signed_by(&key, &issuer.issuer).unwrap();
    (cert.der().to_vec(), key)
}

fn trust(ca: &Ca) -> TrustStore {
    TrustStore::from_ca_certificates(&[ca.cert.pem().as_bytes()]).unwrap()
}

fn fqdn(s: &str) -> GatewayIdentity {
    GatewayIdentity::Fqdn(s.into())
}

#[test]
fn valid_chain_with_intermediate_verifies_and_checks_auth() {
    let root = make_root("Root CA");
    let inter = intermediate(&root, "Issuing CA", (2039, 1, 1));
    let (ee, key) = issue(
        &server_params(&["vpn.example.com"]),
        &inter,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let inter_der = inter.cert.der().to_vec();
    let verified = verify_server(
        &[&ee, &inter_der],
        &trust(&root),
        now(),
        &fqdn("vpn.example.com"),
    )
    .unwrap();
    assert_eq!(verified.public_key().kind(), KeyKind::EcP256);
    assert!(verified.subject().contains("VPN Gateway"));

    // The gateway signs its AUTH payload with the matching key; we verify it.
    let cred = ClientCredential::from_pem_or_der(&ee, key.serialize_pem().as_bytes()).unwrap();
    let octets = b"ResponderSignedOctets";
    let auth = cred
        .sign_auth(Some(&[HashAlgorithm::SHA2_256]), true, octets)
        .unwrap();
    assert_eq!(auth.method, auth_method::DIGITAL_SIGNATURE);
    assert_eq!(
        verified
            .verify_auth(auth.method, &auth.data, octets)
            .unwrap(),
        SignatureScheme::EcdsaP256Sha256
    );
    assert_eq!(
        verified.verify_auth(auth.method, &auth.data, b"other"),
        Err(CertError::BadAuthSignature)
    );

    // The root sent along in the chain does no harm; a trust store holding only the
    // intermediate also works (webpki treats any given anchor as trusted).
    let root_der = root.cert.der().to_vec();
    verify_server(
        &[&ee, &root_der, &inter_der],
        &trust(&root),
        now(),
        &fqdn("vpn.example.com"),
    )
    .unwrap();
    verify_server(&[&ee], &trust(&inter), now(), &fqdn("vpn.example.com")).unwrap();
}

#[test]
fn system_trust_store_does_not_trust_a_private_ca() {
    let root = make_root("Root CA");
    let (ee, _) = issue(
        &server_params(&["vpn.example.com"]),
        &root,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    // Stands in for the OS store: anchors the helper loaded, none of them the private CA.
    let public_root = make_root("Some Public Root");
    let system = TrustStore::from_system_certificates(&[public_root.cert.der().as_ref()]).unwrap();
    assert_eq!(
        verify_server(&[&ee], &system, now(), &fqdn("vpn.example.com")).unwrap_err(),
        CertError::NotSignedBySystemCa
    );
}

#[test]
fn identities_by_ip_email_dn_and_wildcard() {
    let root = make_root("Root CA");
    let params = server_params(&[
        "*.example.net",
        "192.0.2.7",
        "2001:db8::7",
        "gw@Example.net",
    ]);
    let (ee, _) = issue(&params, &root, &rcgen::PKCS_ECDSA_P256_SHA256);
    let t = trust(&root);
    for id in [
        fqdn("vpn.example.net"),
        GatewayIdentity::Ip("192.0.2.7".parse().unwrap()),
        GatewayIdentity::from_id_payload(
            5,
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        )
        .unwrap(),
        GatewayIdentity::Email("gw@example.NET".into()),
    ] {
        verify_server(&[&ee], &t, now(), &id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    for id in [
        fqdn("a.b.example.net"),
        fqdn("example.net"),
        GatewayIdentity::Ip("192.0.2.8".parse().unwrap()),
        GatewayIdentity::Email("other@example.net".into()),
    ] {
        assert!(
            matches!(
                verify_server(&[&ee], &t, now(), &id),
                Err(CertError::NameMismatch { .. })
            ),
            "{id}"
        );
    }
    // ID_DER_ASN1_DN: the subject, byte for byte.
    let subject = ike_subject_der(&ee);
    verify_server(
        &[&ee],
        &t,
        now(),
        &GatewayIdentity::from_id_payload(9, &subject).unwrap(),
    )
    .unwrap();
    let err =
        verify_server(&[&ee], &t, now(), &GatewayIdentity::Dn(root_subject(&root))).unwrap_err();
    assert!(err.to_string().contains("not CN=Root CA"), "{err}");
}

fn ike_subject_der(cert_der: &[u8]) -> Vec<u8> {
    // The subject DER, found by walking TBSCertificate: SEQ { [0] version, serial, sigAlg, issuer, validity, subject, ... }.
    fn tlv(b: &[u8]) -> (usize, usize) {
        let l = b[1] as usize;
        if l < 0x80 {
            (2, l)
        } else {
            let n = l & 0x7f;
            let mut len = 0;
            for &x in &b[2..2 + n] {
                len = (len << 8) | x as usize;
            }
            (2 + n, len)
        }
    }
    let (h, _) = tlv(cert_der);
    let tbs = &cert_der[h..];
    let (h, _) = tlv(tbs);
    let mut p = &tbs[h..];
    for _ in 0..5 {
        let (h, l) = tlv(p);
        p = &p[h + l..];
    }
    let (h, l) = tlv(p);
    p[..h + l].to_vec()
}

fn root_subject(ca: &Ca) -> Vec<u8> {
    ike_subject_der(ca.cert.der())
}

#[test]
fn expired_and_not_yet_valid() {
    let root = make_root("Root CA");
    let mut params = server_params(&["vpn.example.com"]);
    params.not_after = rcgen::date_time_ymd(2026, 3, 1);
    let (ee, _) = issue(&params, &root, &rcgen::PKCS_ECDSA_P256_SHA256);
    let err = verify_server(&[&ee], &trust(&root), now(), &fqdn("vpn.example.com")).unwrap_err();
    assert_eq!(err, CertError::Expired("2026-03-01 00:00:00 UTC".into()));
    assert_eq!(
        err.to_string(),
        "the server's certificate expired on 2026-03-01 00:00:00 UTC"
    );

    params.not_before = rcgen::date_time_ymd(2026, 9, 1);
    params.not_after = rcgen::date_time_ymd(2027, 1, 1);
    let (ee, _) = issue(&params, &root, &rcgen::PKCS_ECDSA_P256_SHA256);
    let err = verify_server(&[&ee], &trust(&root), now(), &fqdn("vpn.example.com")).unwrap_err();
    assert!(matches!(err, CertError::NotYetValid(_)), "{err}");
}

#[test]
fn expired_intermediate() {
    let root = make_root("Root CA");
    let inter = intermediate(&root, "Old CA", (2026, 2, 1));
    let (ee, _) = issue(
        &server_params(&["vpn.example.com"]),
        &inter,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let inter_der = inter.cert.der().to_vec();
    let err = verify_server(
        &[&ee, &inter_der],
        &trust(&root),
        now(),
        &fqdn("vpn.example.com"),
    )
    .unwrap_err();
    assert!(matches!(err, CertError::CaCertificateNotValid(_)), "{err}");
    assert!(err.to_string().contains("2026-02-01"), "{err}");
}

#[test]
fn wrong_ca_and_missing_intermediate() {
    let root = make_root("Root CA");
    let other = make_root("Other CA");
    let (ee, _) = issue(
        &server_params(&["vpn.example.com"]),
        &root,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let err = verify_server(&[&ee], &trust(&other), now(), &fqdn("vpn.example.com")).unwrap_err();
    assert_eq!(err, CertError::NotSignedByProfileCa);
    assert_eq!(
        err.to_string(),
        "the server's certificate is not signed by the CA in this profile"
    );

    let inter = intermediate(&root, "Issuing CA", (2039, 1, 1));
    let (ee, _) = issue(
        &server_params(&["vpn.example.com"]),
        &inter,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    assert_eq!(
        verify_server(&[&ee], &trust(&root), now(), &fqdn("vpn.example.com")).unwrap_err(),
        CertError::NotSignedByProfileCa
    );
    // A self-signed gateway certificate is not trusted either.
    assert_eq!(
        verify_server(
            &[root.cert.der()],
            &trust(&other),
            now(),
            &fqdn("vpn.example.com")
        )
        .unwrap_err(),
        CertError::CaAsEndEntity
    );
}

#[test]
fn wrong_name() {
    let root = make_root("Root CA");
    let (ee, _) = issue(
        &server_params(&["vpn.example.org"]),
        &root,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let err = verify_server(&[&ee], &trust(&root), now(), &fqdn("vpn.example.com")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server's certificate is for vpn.example.org, not vpn.example.com"
    );
    // No SAN at all: the subject is named instead; the CN is never used for matching.
    let mut params = server_params(&[]);
    params
        .distinguished_name
        .push(DnType::CommonName, "vpn.example.com");
    let (ee, _) = issue(&params, &root, &rcgen::PKCS_ECDSA_P256_SHA256);
    let err = verify_server(&[&ee], &trust(&root), now(), &fqdn("vpn.example.com")).unwrap_err();
    assert!(matches!(err, CertError::NameMismatch { .. }), "{err}");
}

#[test]
fn key_usage_and_extended_key_usage() {
    let root = make_root("Root CA");
    let t = trust(&root);
    let id = fqdn("vpn.example.com");
    let check = |ku: Vec<KeyUsagePurpose>, eku: Vec<ExtendedKeyUsagePurpose>| {
        let mut params = server_params(&["vpn.example.com"]);
        params.key_usages = ku;
        params.extended_key_usages = eku;
        let (ee, _) = issue(&params, &root, &rcgen::PKCS_ECDSA_P256_SHA256);
        verify_server(&[&ee], &t, now(), &id).map(|_| ())
    };
    let sig = || vec![KeyUsagePurpose::DigitalSignature];
    // Accepted EKUs: none, serverAuth, ipsecIKE, anyEKU, iKEIntermediate (with others).
    check(sig(), vec![]).unwrap();
    check(
        sig(),
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    )
    .unwrap();
    check(
        sig(),
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 7, 3, 17,
        ])],
    )
    .unwrap();
    check(sig(), vec![ExtendedKeyUsagePurpose::Any]).unwrap();
    check(
        sig(),
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 8, 2, 2,
        ])],
    )
    .unwrap();
    check(vec![KeyUsagePurpose::ContentCommitment], vec![]).unwrap();
    check(vec![], vec![]).unwrap();
    // Rejected.
    for (ku, eku) in [
        (sig(), vec![ExtendedKeyUsagePurpose::ClientAuth]),
        (
            sig(),
            vec![
                ExtendedKeyUsagePurpose::CodeSigning,
                ExtendedKeyUsagePurpose::EmailProtection,
            ],
        ),
        (
            vec![KeyUsagePurpose::KeyEncipherment],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
        ),
    ] {
        let err = check(ku, eku).unwrap_err();
        assert!(matches!(err, CertError::WrongKeyUsage(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("the server's certificate may not be used by a VPN gateway")
        );
    }
}

#[test]
fn profile_ca_input_forms() {
    let root = make_root("Root CA");
    let pem = root.cert.pem();
    let two = format!("{pem}\n{}", make_root("Second").cert.pem());
    assert_eq!(
        TrustStore::from_ca_certificates(&[two.as_bytes()])
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        TrustStore::from_ca_certificates(&[root.cert.der()])
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        TrustStore::from_ca_certificates(&[]).unwrap_err(),
        CertError::NoTrustAnchors
    );
    assert!(matches!(
        TrustStore::from_ca_certificates(&[b"garbage"]).unwrap_err(),
        CertError::BadCaCertificate(_)
    ));
    assert!(matches!(
        TrustStore::from_ca_certificates(&[b"-----BEGIN NOTHING-----\n-----END NOTHING-----\n"])
            .unwrap_err(),
        CertError::BadCaCertificate(_)
    ));
}

#[test]
fn chain_limits_and_garbage() {
    let root = make_root("Root CA");
    let t = trust(&root);
    let id = fqdn("vpn.example.com");
    assert_eq!(
        verify_server(&[], &t, now(), &id).unwrap_err(),
        CertError::NoServerCertificate
    );
    assert!(matches!(
        verify_server(&[b"\x30\x03\x02\x01\x00"], &t, now(), &id),
        Err(CertError::BadCertificate(_))
    ));
    let big = vec![0u8; 20_000];
    assert_eq!(
        verify_server(&[&big], &t, now(), &id).unwrap_err(),
        CertError::ChainTooLarge
    );
    let c = root.cert.der().to_vec();
    let many: Vec<&[u8]> = (0..9).map(|_| c.as_slice()).collect();
    assert_eq!(
        verify_server(&many, &t, now(), &id).unwrap_err(),
        CertError::ChainTooLarge
    );
}

fn self_signed_credential(
    alg: &'static SignatureAlgorithm,
    key: Option<KeyPair>,
) -> (ClientCredential, PeerPublicKey) {
    let key = key.unwrap_or_else(|| KeyPair::generate_for(alg).unwrap());
    let mut params = server_params(&["client.example.com"]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).unwrap();
    let cred =
        ClientCredential::from_pem_or_der(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .unwrap();
    let peer =
        PeerPublicKey::from_spki(&rcgen::PublicKeyData::subject_public_key_info(&key)).unwrap();
    (cred, peer)
}

fn rsa_key() -> KeyPair {
    KeyPair::from_pem(RSA_2048_PKCS8).unwrap()
}

#[test]
fn every_signature_scheme_round_trips() {
    let octets = b"InitiatorSignedOctets: message | nonce | prf(SK_pi, IDi)";
    let cases: Vec<(ClientCredential, PeerPublicKey, Vec<SignatureScheme>)> = vec![
        {
            let (c, p) = self_signed_credential(&rcgen::PKCS_RSA_SHA256, Some(rsa_key()));
            (
                c,
                p,
                vec![
                    SignatureScheme::RsaPkcs1Sha256,
                    SignatureScheme::RsaPkcs1Sha384,
                    SignatureScheme::RsaPkcs1Sha512,
                    SignatureScheme::RsaPssSha256,
                    SignatureScheme::RsaPssSha384,
                    SignatureScheme::RsaPssSha512,
                ],
            )
        },
        {
            let (c, p) = self_signed_credential(&rcgen::PKCS_ECDSA_P256_SHA256, None);
            (
                c,
                p,
                vec![
                    SignatureScheme::EcdsaP256Sha256Fixed,
                    SignatureScheme::EcdsaP256Sha256,
                ],
            )
        },
        {
            let (c, p) = self_signed_credential(&rcgen::PKCS_ECDSA_P384_SHA384, None);
            (
                c,
                p,
                vec![
                    SignatureScheme::EcdsaP384Sha384Fixed,
                    SignatureScheme::EcdsaP384Sha384,
                ],
            )
        },
        {
            let (c, p) = self_signed_credential(&rcgen::PKCS_ED25519, None);
            (c, p, vec![SignatureScheme::Ed25519])
        },
    ];
    let mut count = 0;
    for (cred, peer, schemes) in &cases {
        for &scheme in schemes {
            let auth = cred.sign_with(scheme, octets).unwrap();
            assert_eq!(auth.method, scheme.auth_method());
            assert_eq!(
                peer.verify_auth(auth.method, &auth.data, octets).unwrap(),
                scheme,
                "{scheme:?}"
            );
            assert_eq!(
                peer.verify_auth(auth.method, &auth.data, b"x"),
                Err(CertError::BadAuthSignature)
            );
            let mut tampered = auth.data.clone();
            *tampered.last_mut().unwrap() ^= 1;
            assert!(peer.verify_auth(auth.method, &tampered, octets).is_err());
            count += 1;
        }
    }
    assert_eq!(count, 11);
    // Method and key must fit each other.
    let (ec, ec_peer) = (&cases[1].0, &cases[1].1);
    let auth = ec
        .sign_with(SignatureScheme::EcdsaP256Sha256Fixed, octets)
        .unwrap();
    assert!(matches!(
        cases[0].1.verify_auth(auth.method, &auth.data, octets),
        Err(CertError::AuthKeyMismatch { .. })
    ));
    assert!(matches!(
        ec_peer.verify_auth(auth_method::ECDSA_SHA384_P384, &auth.data, octets),
        Err(CertError::AuthKeyMismatch { .. })
    ));
    assert!(matches!(
        ec.sign_with(SignatureScheme::RsaPssSha256, octets),
        Err(CertError::AuthKeyMismatch { .. })
    ));
    // Method 14 with SHA-1 RSA is refused (SHA-1 only for method 1), as is P-521.
    let mut sha1 = vec![15];
    sha1.extend_from_slice(&hex("300d06092a864886f70d0101050500"));
    sha1.extend_from_slice(&[0; 256]);
    assert!(matches!(
        cases[0].1.verify_auth(14, &sha1, octets),
        Err(CertError::UnsupportedSignature(_))
    ));
    assert!(matches!(
        ec_peer.verify_auth(11, &[0; 132], octets),
        Err(CertError::UnsupportedSignature(_))
    ));
    assert!(matches!(
        ec_peer.verify_auth(14, &[], octets),
        Err(CertError::MalformedAuth(_))
    ));
    assert!(matches!(
        ec_peer.verify_auth(14, &[200, 1], octets),
        Err(CertError::MalformedAuth(_))
    ));
}

#[test]
fn scheme_choice_follows_signature_hash_algorithms() {
    let all = [
        HashAlgorithm::SHA2_256,
        HashAlgorithm::SHA2_384,
        HashAlgorithm::SHA2_512,
        HashAlgorithm::IDENTITY,
    ];
    let (rsa, _) = self_signed_credential(&rcgen::PKCS_RSA_SHA256, Some(rsa_key()));
    let (p256, _) = self_signed_credential(&rcgen::PKCS_ECDSA_P256_SHA256, None);
    let (p384, _) = self_signed_credential(&rcgen::PKCS_ECDSA_P384_SHA384, None);
    let (ed, _) = self_signed_credential(&rcgen::PKCS_ED25519, None);
    assert_eq!(
        rsa.choose_scheme(Some(&all), true).unwrap(),
        SignatureScheme::RsaPssSha256
    );
    assert_eq!(
        rsa.choose_scheme(Some(&all), false).unwrap(),
        SignatureScheme::RsaPkcs1Sha256
    );
    assert_eq!(
        rsa.choose_scheme(Some(&[HashAlgorithm::SHA2_512]), true)
            .unwrap(),
        SignatureScheme::RsaPssSha512
    );
    assert!(matches!(
        rsa.choose_scheme(None, true),
        Err(CertError::PeerRejectsKeyType(_))
    ));
    assert_eq!(
        p256.choose_scheme(Some(&all), true).unwrap(),
        SignatureScheme::EcdsaP256Sha256
    );
    assert_eq!(
        p256.choose_scheme(None, true).unwrap(),
        SignatureScheme::EcdsaP256Sha256Fixed
    );
    assert_eq!(
        p384.choose_scheme(Some(&all), true).unwrap(),
        SignatureScheme::EcdsaP384Sha384
    );
    assert_eq!(
        p384.choose_scheme(Some(&[HashAlgorithm::SHA2_256]), true)
            .unwrap(),
        SignatureScheme::EcdsaP384Sha384Fixed
    );
    assert_eq!(
        ed.choose_scheme(Some(&all), true).unwrap(),
        SignatureScheme::Ed25519
    );
    assert!(matches!(
        ed.choose_scheme(Some(&[HashAlgorithm::SHA2_256]), true),
        Err(CertError::PeerRejectsKeyType(_))
    ));
    let auth = p256.sign_auth(None, true, b"octets").unwrap();
    assert_eq!(auth.method, auth_method::ECDSA_SHA256_P256);
    assert_eq!(auth.data.len(), 64);
}

#[test]
fn signatures_made_by_openssl_verify() {
    let msg = b"tern signed octets";
    let rsa = PeerPublicKey::from_spki(&hex(OPENSSL_RSA_SPKI)).unwrap();
    assert_eq!(rsa.kind(), KeyKind::Rsa);
    // Method 1: PKCS#1 v1.5 with SHA-1.
    let sig = hex(OPENSSL_RSA_SHA1_SIG);
    assert_eq!(
        rsa.verify_auth(1, &sig, msg).unwrap(),
        SignatureScheme::RsaPkcs1Sha1
    );
    // Method 14: RSASSA-PSS SHA-256 (salt = 32).
    let mut data = vec![];
    let alg = SignatureScheme::RsaPssSha256
        .algorithm_identifier()
        .unwrap();
    data.push(alg.len() as u8);
    data.extend_from_slice(&alg);
    data.extend_from_slice(&hex(OPENSSL_RSA_PSS_SHA256_SIG));
    assert_eq!(
        rsa.verify_auth(14, &data, msg).unwrap(),
        SignatureScheme::RsaPssSha256
    );
    // Method 14: ECDSA P-256 with SHA-256 and with SHA-384, DER signatures.
    let ec = PeerPublicKey::from_spki(&hex(OPENSSL_EC_P256_SPKI)).unwrap();
    for (sig, scheme, alg_hex) in [
        (
            OPENSSL_EC_P256_SHA256_DER_SIG,
            SignatureScheme::EcdsaP256Sha256,
            "300a06082a8648ce3d040302",
        ),
        (
            OPENSSL_EC_P256_SHA384_DER_SIG,
            SignatureScheme::EcdsaP256Sha384,
            "300a06082a8648ce3d040303",
        ),
    ] {
        let mut data = vec![12];
        data.extend_from_slice(&hex(alg_hex));
        data.extend_from_slice(&hex(sig));
        assert_eq!(ec.verify_auth(14, &data, msg).unwrap(), scheme);
        // The same DER signature is not accepted as a raw r|s method 9 signature.
        assert_eq!(
            ec.verify_auth(9, &hex(sig), msg),
            Err(CertError::BadAuthSignature)
        );
    }
}

#[test]
fn ed25519_rfc8032_test_1() {
    // RFC 8032 §7.1 TEST 1: empty message.
    let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let sig = hex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    let mut spki = hex("302a300506032b6570032100");
    spki.extend_from_slice(&public);
    let key = PeerPublicKey::from_spki(&spki).unwrap();
    let mut data = vec![7];
    data.extend_from_slice(&hex("300506032b6570"));
    data.extend_from_slice(&sig);
    assert_eq!(
        key.verify_auth(14, &data, b"").unwrap(),
        SignatureScheme::Ed25519
    );
}

#[test]
fn client_credentials_from_pem_der_and_mismatch() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = server_params(&["client.example.com"])
        .self_signed(&key)
        .unwrap();
    let der = ClientCredential::from_pem_or_der(cert.der(), &key.serialize_der()).unwrap();
    assert_eq!(der.key_kind(), KeyKind::EcP256);
    assert_eq!(der.certificates().count(), 1);
    assert!(der.subject_der().unwrap().len() > 10);
    let dbg = format!("{der:?}");
    assert!(!dbg.contains("PRIVATE"), "{dbg}");
    assert_eq!(
        ClientCredential::from_pem_or_der(cert.der(), &other.serialize_der()).unwrap_err(),
        CertError::KeyCertificateMismatch
    );
    assert!(matches!(
        ClientCredential::from_pem_or_der(
            cert.der(),
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        ),
        Err(CertError::BadPrivateKey(_))
    ));
    // A chain with an intermediate is kept in order for the CERT payloads.
    let root = make_root("Root CA");
    let inter = intermediate(&root, "Issuing CA", (2039, 1, 1));
    let ee = server_params(&["client.example.com"])
        .signed_by(&key, &inter.issuer)
        .unwrap();
    let chain = format!("{}{}", ee.pem(), inter.cert.pem());
    let cred = ClientCredential::from_pem_or_der(chain.as_bytes(), key.serialize_pem().as_bytes())
        .unwrap();
    let certs: Vec<&[u8]> = cred.certificates().collect();
    assert_eq!(certs, [ee.der().as_ref(), inter.cert.der().as_ref()]);
}

#[test]
fn pkcs12_modern_and_legacy_from_openssl() {
    for (name, p12) in [
        ("AES-256-CBC/PBKDF2", P12_OPENSSL_MODERN),
        ("3DES", P12_OPENSSL_LEGACY_3DES),
        ("RC2-40 + 3DES", P12_OPENSSL_LEGACY_RC2),
    ] {
        let data = hex(p12);
        let cred = ClientCredential::from_pkcs12(&data, "secret")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cred.key_kind(), KeyKind::EcP256, "{name}");
        assert!(cred.subject().contains("p12 client"), "{name}");
        let auth = cred
            .sign_auth(Some(&[HashAlgorithm::SHA2_256]), true, b"x")
            .unwrap();
        let peer = PeerPublicKey::from_spki(&hex(OPENSSL_EC_P256_SPKI)).unwrap();
        peer.verify_auth(auth.method, &auth.data, b"x").unwrap();
        let err = ClientCredential::from_pkcs12(&data, "wrong").unwrap_err();
        assert!(matches!(err, CertError::Pkcs12(_)), "{name}: {err}");
    }
    assert!(matches!(
        ClientCredential::from_pkcs12(b"junk", "x"),
        Err(CertError::Pkcs12(_))
    ));
}

#[test]
fn user_facing_messages() {
    assert_eq!(
        CertError::NoClientCertificate.to_string(),
        "the server asked for a client certificate but the profile has none"
    );
}
