build2/obj/policies/policy_export.o: policies/policy_export.c \
 policies/policy_int.h policies/policies.h
policies/policy_int.h:
policies/policies.h:
