build2/obj/builder/cmd_policy.o: builder/cmd_policy.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h \
 builder/../policies/policies.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
builder/../policies/policies.h:
