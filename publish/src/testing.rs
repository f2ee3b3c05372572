//! Helpers for tests and benchmarks: librdkafka's in-process mock cluster, reachable over loopback TCP, so a
//! test can also point a `tickwatch` child process at it.
//!
//! Mind its limits: the mock checks producer sequences only for transactional producers, so a batch whose
//! response is lost (injected `ERR__TRANSPORT`, a connection closed by `down`) can be appended twice, and a batch
//! may overtake a rejected one when several requests are in flight. A real broker rejects both.

use std::fmt;

use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::record::RecordKind;

/// A mock Kafka cluster (not `Send`: keep it on the thread that created it).
pub struct MockBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl fmt::Debug for MockBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockBroker")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl MockBroker {
    /// Starts a mock cluster with `brokers` brokers.
    pub fn new(brokers: i32) -> Result<MockBroker, KafkaError> {
        let cluster = MockCluster::new(brokers)?;
        let bootstrap = cluster.bootstrap_servers();
        Ok(MockBroker { cluster, bootstrap })
    }

    /// The `bootstrap.servers` string.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `<prefix>alerts`, `<prefix>snapshots` and `<prefix>features` with `partitions` partitions.
    pub fn create_topics(&self, prefix: &str, partitions: i32) -> Result<(), KafkaError> {
        for kind in RecordKind::ALL {
            self.cluster.create_topic(
                &format!("{prefix}{}", kind.topic_suffix()),
                partitions,
                1,
            )?;
        }
        Ok(())
    }

    /// Disconnects every broker and refuses new connections.
    pub fn down(&self) -> Result<(), KafkaError> {
        self.cluster.broker_down(-1)
    }

    /// Accepts connections again.
    pub fn up(&self) -> Result<(), KafkaError> {
        self.cluster.broker_up(-1)
    }

    /// The underlying cluster (error injection etc.).
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}
