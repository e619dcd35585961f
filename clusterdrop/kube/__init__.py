"""Everything that talks to the Kubernetes API. The official client is imported only inside
this package (it costs ~0.4 s of cold start): handlers that do not talk to Kubernetes never
import it."""
