//! Quorum-certificate verification: `QuorumCert::verify` (one ed25519 batch verification over
//! all signers) against checking each signature on its own with `PublicKey::verify_preimage`,
//! over the same certificate. Equal stake, every member signs.
//!
//! ```text
//! cargo bench -p shardnet-protocol --bench certificates -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shardnet_protocol::crypto::signing_preimage;
use shardnet_protocol::{
    BlockHash, ChainId, Committee, Domain, Epoch, Hash32, Height, Member, QuorumCert, Round,
    SecretKey, ShardId, Stake, ValidatorIndex, Vote, VoteData,
};

const SIGNERS: [usize; 4] = [4, 16, 64, 100];

/// A committee of `n` members with equal stake, keys from fixed seeds, and a QC that all of
/// them signed.
fn fixture(n: usize) -> (Committee, QuorumCert) {
    let keys: Vec<SecretKey> = (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SecretKey::from_bytes(&seed)
        })
        .collect();
    let members = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            public_key: k.public_key(),
            stake: Stake(100),
            network_address: format!("127.0.0.1:{}", 9000 + i),
        })
        .collect();
    let committee =
        Committee::new(ChainId(7), ShardId(0), Epoch(3), members).expect("valid committee");
    let data = VoteData {
        block: BlockHash(Hash32::blake3(b"bench block")),
        round: Round(42),
        height: Height(41),
    };
    let votes: Vec<Vote> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Vote::sign(&committee, k, ValidatorIndex(i as u16), data))
        .collect();
    let qc = QuorumCert::aggregate(&committee, data, &votes);
    assert_eq!(qc.signatures.len(), n, "every member signed");
    (committee, qc)
}

/// What `QuorumCert::verify` does, but with one strict verification per signature instead of
/// one batch: the preimage is built once, then each signer's key checks its signature.
fn verify_one_by_one(committee: &Committee, qc: &QuorumCert) -> bool {
    let preimage = signing_preimage(Domain::Vote, &committee.signing_context(), &qc.data);
    qc.signers
        .iter()
        .zip(qc.signatures.iter())
        .all(|(index, signature)| {
            committee
                .member(index)
                .is_some_and(|m| m.public_key.verify_preimage(&preimage, signature).is_ok())
        })
}

fn bench_qc_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("qc_verify");
    for n in SIGNERS {
        let (committee, qc) = fixture(n);
        assert!(qc.verify(&committee).is_ok());
        assert!(verify_one_by_one(&committee, &qc));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batch", n), &n, |b, _| {
            b.iter(|| black_box(&qc).verify(black_box(&committee)).is_ok());
        });
        group.bench_with_input(BenchmarkId::new("one_by_one", n), &n, |b, _| {
            b.iter(|| verify_one_by_one(black_box(&committee), black_box(&qc)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_qc_verify);
criterion_main!(benches);
