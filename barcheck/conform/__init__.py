"""`barcheck conform`: run scenarios on a stock Linux kernel under QEMU and compare with the model."""
