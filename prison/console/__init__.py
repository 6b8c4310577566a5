"""The prison's staff web console, served by the prison service (`prison run`, `[console]`): the
prison view, a wing's tablets, the prison-wide lockdown and its two-person lift. Built on the
shared console machinery (`common.staff_web`); its accounts live in the prison store."""
