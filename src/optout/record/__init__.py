"""Record: apply what recognition found to the list, with its evidence; accounts, trust, quarantine, imports."""
