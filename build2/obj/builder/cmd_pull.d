build2/obj/builder/cmd_pull.o: builder/cmd_pull.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
