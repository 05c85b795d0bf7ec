"""The system under study: PCI BARs, resource trees and vfio-pci policies.

Never imports the checker (`barcheck`) or the properties; only `model.ops_z3`
imports z3.
"""
